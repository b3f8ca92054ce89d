//! Reference architectures with torchvision's structure and parameter names, so torchvision
//! state dicts load as they are.

mod resnet;

pub use resnet::{
    BasicBlock, Bottleneck, ResNet, ResNetConfig, resnet18, resnet34, resnet50, resnet101,
    resnet152,
};
