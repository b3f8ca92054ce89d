//! `torchvision.models.resnet`: ResNet-18/34 (BasicBlock) and ResNet-50/101/152 (Bottleneck,
//! "v1.5": the stride sits on the 3x3 conv), with torchvision's module tree, parameter names
//! (`layer1.0.conv1.weight`, `layer2.0.downsample.1.running_mean`, `fc.bias`) and
//! initialisation (kaiming-normal fan-out convs, BN weight 1 / bias 0, optional zero-init of
//! each block's last BN weight).

use crate::init::{self, FanMode};
use crate::module::{Module, TrainingFlag};
use crate::{AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Conv2dConfig, Linear, MaxPool2d, Sequential};
use tiny_torch_core::{Backend, Result};
use tiny_torch_tensor::Tensor;

/// Options of [`ResNet`] (torchvision's keyword arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResNetConfig {
    pub num_classes: usize,
    /// Zero the last BN weight of every residual block, so each block starts as the identity
    /// (improves training of large-batch runs; torchvision's `zero_init_residual`).
    pub zero_init_residual: bool,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        ResNetConfig {
            num_classes: 1000,
            zero_init_residual: false,
        }
    }
}

fn conv3x3<B: Backend>(
    in_planes: usize,
    out_planes: usize,
    stride: usize,
    backend: &B,
) -> Result<Conv2d<B>> {
    let config = Conv2dConfig::default()
        .stride(stride)
        .padding(1)
        .bias(false);
    Conv2d::with_config(in_planes, out_planes, 3, config, backend)
}

fn conv1x1<B: Backend>(
    in_planes: usize,
    out_planes: usize,
    stride: usize,
    backend: &B,
) -> Result<Conv2d<B>> {
    let config = Conv2dConfig::default().stride(stride).bias(false);
    Conv2d::with_config(in_planes, out_planes, 1, config, backend)
}

/// The 1x1 conv + BN that brings the identity to a block's output shape.
fn downsample<B: Backend>(
    in_planes: usize,
    out_planes: usize,
    stride: usize,
    backend: &B,
) -> Result<Sequential<B>> {
    Ok(Sequential::default()
        .append(conv1x1(in_planes, out_planes, stride, backend)?)
        .append(BatchNorm2d::new(out_planes, backend)?))
}

/// Two 3x3 convs with a residual connection (ResNet-18/34).
pub struct BasicBlock<B: Backend> {
    pub conv1: Conv2d<B>,
    pub bn1: BatchNorm2d<B>,
    pub conv2: Conv2d<B>,
    pub bn2: BatchNorm2d<B>,
    pub downsample: Option<Sequential<B>>,
    training: TrainingFlag,
}

impl<B: Backend> BasicBlock<B> {
    pub const EXPANSION: usize = 1;

    pub fn new(in_planes: usize, planes: usize, stride: usize, backend: &B) -> Result<Self> {
        let needs_projection = stride != 1 || in_planes != planes * Self::EXPANSION;
        Ok(BasicBlock {
            conv1: conv3x3(in_planes, planes, stride, backend)?,
            bn1: BatchNorm2d::new(planes, backend)?,
            conv2: conv3x3(planes, planes, 1, backend)?,
            bn2: BatchNorm2d::new(planes, backend)?,
            downsample: needs_projection
                .then(|| downsample(in_planes, planes * Self::EXPANSION, stride, backend))
                .transpose()?,
            training: TrainingFlag::default(),
        })
    }
}

impl<B: Backend> Module<B> for BasicBlock<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let out = self.bn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let out = self.bn2.forward(&self.conv2.forward(&out)?)?;
        let identity = match &self.downsample {
            Some(d) => d.forward(x)?,
            None => x.clone(),
        };
        out.add(&identity)?.relu()
    }

    fn children(&self) -> Vec<(String, &dyn Module<B>)> {
        let mut children: Vec<(String, &dyn Module<B>)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("conv2".into(), &self.conv2),
            ("bn2".into(), &self.bn2),
        ];
        if let Some(d) = &self.downsample {
            children.push(("downsample".into(), d));
        }
        children
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

/// 1x1 → 3x3 (strided) → 1x1 ×4 with a residual connection (ResNet-50/101/152).
pub struct Bottleneck<B: Backend> {
    pub conv1: Conv2d<B>,
    pub bn1: BatchNorm2d<B>,
    pub conv2: Conv2d<B>,
    pub bn2: BatchNorm2d<B>,
    pub conv3: Conv2d<B>,
    pub bn3: BatchNorm2d<B>,
    pub downsample: Option<Sequential<B>>,
    training: TrainingFlag,
}

impl<B: Backend> Bottleneck<B> {
    pub const EXPANSION: usize = 4;

    pub fn new(in_planes: usize, planes: usize, stride: usize, backend: &B) -> Result<Self> {
        let out_planes = planes * Self::EXPANSION;
        let needs_projection = stride != 1 || in_planes != out_planes;
        Ok(Bottleneck {
            conv1: conv1x1(in_planes, planes, 1, backend)?,
            bn1: BatchNorm2d::new(planes, backend)?,
            conv2: conv3x3(planes, planes, stride, backend)?,
            bn2: BatchNorm2d::new(planes, backend)?,
            conv3: conv1x1(planes, out_planes, 1, backend)?,
            bn3: BatchNorm2d::new(out_planes, backend)?,
            downsample: needs_projection
                .then(|| downsample(in_planes, out_planes, stride, backend))
                .transpose()?,
            training: TrainingFlag::default(),
        })
    }
}

impl<B: Backend> Module<B> for Bottleneck<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let out = self.bn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let out = self.bn2.forward(&self.conv2.forward(&out)?)?.relu()?;
        let out = self.bn3.forward(&self.conv3.forward(&out)?)?;
        let identity = match &self.downsample {
            Some(d) => d.forward(x)?,
            None => x.clone(),
        };
        out.add(&identity)?.relu()
    }

    fn children(&self) -> Vec<(String, &dyn Module<B>)> {
        let mut children: Vec<(String, &dyn Module<B>)> = vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("conv2".into(), &self.conv2),
            ("bn2".into(), &self.bn2),
            ("conv3".into(), &self.conv3),
            ("bn3".into(), &self.bn3),
        ];
        if let Some(d) = &self.downsample {
            children.push(("downsample".into(), d));
        }
        children
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

/// Which residual block a ResNet stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Basic,
    Bottleneck,
}

impl Block {
    fn expansion(self) -> usize {
        match self {
            Block::Basic => 1,
            Block::Bottleneck => 4,
        }
    }
}

/// `torchvision.models.ResNet`.
pub struct ResNet<B: Backend> {
    pub conv1: Conv2d<B>,
    pub bn1: BatchNorm2d<B>,
    pub maxpool: MaxPool2d,
    pub layer1: Sequential<B>,
    pub layer2: Sequential<B>,
    pub layer3: Sequential<B>,
    pub layer4: Sequential<B>,
    pub avgpool: AdaptiveAvgPool2d,
    pub fc: Linear<B>,
    training: TrainingFlag,
}

impl<B: Backend> ResNet<B> {
    fn build(block: Block, layers: [usize; 4], config: ResNetConfig, backend: &B) -> Result<Self> {
        let conv1_config = Conv2dConfig::default().stride(2).padding(3).bias(false);
        let mut in_planes = 64;
        let mut make_layer = |planes: usize,
                              blocks: usize,
                              stride: usize|
         -> Result<Sequential<B>> {
            let mut layer = Sequential::default();
            for i in 0..blocks {
                let s = if i == 0 { stride } else { 1 };
                layer = match block {
                    Block::Basic => layer.append(BasicBlock::new(in_planes, planes, s, backend)?),
                    Block::Bottleneck => {
                        layer.append(Bottleneck::new(in_planes, planes, s, backend)?)
                    }
                };
                in_planes = planes * block.expansion();
            }
            Ok(layer)
        };
        let layer1 = make_layer(64, layers[0], 1)?;
        let layer2 = make_layer(128, layers[1], 2)?;
        let layer3 = make_layer(256, layers[2], 2)?;
        let layer4 = make_layer(512, layers[3], 2)?;
        let model = ResNet {
            conv1: Conv2d::with_config(3, 64, 7, conv1_config, backend)?,
            bn1: BatchNorm2d::new(64, backend)?,
            maxpool: MaxPool2d::new(3).stride(2).padding(1),
            layer1,
            layer2,
            layer3,
            layer4,
            avgpool: AdaptiveAvgPool2d::new(1),
            fc: Linear::new(512 * block.expansion(), config.num_classes, true, backend)?,
            training: TrainingFlag::default(),
        };
        model.init_weights(config)?;
        Ok(model)
    }

    /// torchvision's initialisation: kaiming-normal (fan-out, ReLU) conv weights, BN weight 1
    /// and bias 0 (already so), and with `zero_init_residual` the last BN weight of each block 0.
    fn init_weights(&self, config: ResNetConfig) -> Result<()> {
        for (name, p) in self.named_parameters() {
            let is_conv_weight = p.ndim() == 4 && name.ends_with("weight");
            if is_conv_weight {
                init::kaiming_normal_(&p, 0.0, FanMode::FanOut, "relu", None)?;
            }
        }
        if config.zero_init_residual {
            for layer in [&self.layer1, &self.layer2, &self.layer3, &self.layer4] {
                for (name, p) in layer.named_parameters() {
                    // `{block}.bn2.weight` in a BasicBlock, `{block}.bn3.weight` in a Bottleneck.
                    let last_bn = if layer_is_bottleneck(layer) {
                        "bn3.weight"
                    } else {
                        "bn2.weight"
                    };
                    if name.ends_with(last_bn) && name.split('.').count() == 3 {
                        init::zeros_(&p)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn layer_is_bottleneck<B: Backend>(layer: &Sequential<B>) -> bool {
    layer
        .get(0)
        .is_some_and(|b| b.children().iter().any(|(name, _)| name == "conv3"))
}

impl<B: Backend> Module<B> for ResNet<B> {
    fn forward(&self, x: &Tensor<B>) -> Result<Tensor<B>> {
        let x = self.bn1.forward(&self.conv1.forward(x)?)?.relu()?;
        let x = Module::<B>::forward(&self.maxpool, &x)?;
        let x = self.layer1.forward(&x)?;
        let x = self.layer2.forward(&x)?;
        let x = self.layer3.forward(&x)?;
        let x = self.layer4.forward(&x)?;
        let x = Module::<B>::forward(&self.avgpool, &x)?.flatten(1, -1)?;
        self.fc.forward(&x)
    }

    fn children(&self) -> Vec<(String, &dyn Module<B>)> {
        vec![
            ("conv1".into(), &self.conv1),
            ("bn1".into(), &self.bn1),
            ("maxpool".into(), &self.maxpool),
            ("layer1".into(), &self.layer1),
            ("layer2".into(), &self.layer2),
            ("layer3".into(), &self.layer3),
            ("layer4".into(), &self.layer4),
            ("avgpool".into(), &self.avgpool),
            ("fc".into(), &self.fc),
        ]
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

/// ResNet-18: BasicBlock ×[2, 2, 2, 2], 11.7M parameters at 1000 classes.
pub fn resnet18<B: Backend>(config: ResNetConfig, backend: &B) -> Result<ResNet<B>> {
    ResNet::build(Block::Basic, [2, 2, 2, 2], config, backend)
}

/// ResNet-34: BasicBlock ×[3, 4, 6, 3], 21.8M parameters.
pub fn resnet34<B: Backend>(config: ResNetConfig, backend: &B) -> Result<ResNet<B>> {
    ResNet::build(Block::Basic, [3, 4, 6, 3], config, backend)
}

/// ResNet-50: Bottleneck ×[3, 4, 6, 3], 25.6M parameters.
pub fn resnet50<B: Backend>(config: ResNetConfig, backend: &B) -> Result<ResNet<B>> {
    ResNet::build(Block::Bottleneck, [3, 4, 6, 3], config, backend)
}

/// ResNet-101: Bottleneck ×[3, 4, 23, 3], 44.5M parameters.
pub fn resnet101<B: Backend>(config: ResNetConfig, backend: &B) -> Result<ResNet<B>> {
    ResNet::build(Block::Bottleneck, [3, 4, 23, 3], config, backend)
}

/// ResNet-152: Bottleneck ×[3, 8, 36, 3], 60.2M parameters.
pub fn resnet152<B: Backend>(config: ResNetConfig, backend: &B) -> Result<ResNet<B>> {
    ResNet::build(Block::Bottleneck, [3, 8, 36, 3], config, backend)
}
