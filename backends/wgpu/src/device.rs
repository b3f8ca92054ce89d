//! Finding adapters, and the per-adapter state every op shares: the device and its queue, the
//! buffer pool, compiled pipelines, and the error record that indexing shaders write.
//!
//! One `WgpuDevice` per adapter per process, created on first use and never dropped (storages
//! freed late always find their pool). Every op records one compute pass and submits it: the
//! queue runs submissions in order, so no op waits for the device; only reading back
//! ([`WgpuDevice::read`]) and [`WgpuDevice::synchronize`] do.

use crate::shader::ShaderSpec;
use crate::storage::{BufferKind, Pool, WgpuStorage};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tiny_torch_core::{DType, Error, Result};

pub(crate) fn backend_error(msg: impl Into<String>) -> Error {
    Error::Backend {
        backend: "wgpu",
        msg: msg.into(),
    }
}

/// Locks a mutex, recovering from poisoning (the guarded caches stay consistent on panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What an adapter is, as [`adapters`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// The index `Wgpu::new` takes (`wgpu:N`).
    pub index: usize,
    pub name: String,
    /// "DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Cpu" or "Other".
    pub device_type: String,
    pub backend: String,
    pub driver: String,
}

struct Adapters {
    /// Kept alive for the adapters' sake.
    _instance: wgpu::Instance,
    list: Vec<wgpu::Adapter>,
}

/// Vulkan adapters, discrete GPUs first and CPU adapters (lavapipe) last; enumerated once.
fn all_adapters() -> &'static Adapters {
    static ADAPTERS: OnceLock<Adapters> = OnceLock::new();
    ADAPTERS.get_or_init(|| {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::VULKAN;
        let instance = wgpu::Instance::new(desc);
        let mut list = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
        let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        };
        list.sort_by_key(rank);
        Adapters {
            _instance: instance,
            list,
        }
    })
}

/// Every adapter wgpu finds (Vulkan), in the order of their indices.
pub fn adapters() -> Vec<AdapterSummary> {
    all_adapters()
        .list
        .iter()
        .enumerate()
        .map(|(index, a)| {
            let info = a.get_info();
            AdapterSummary {
                index,
                name: info.name,
                device_type: format!("{:?}", info.device_type),
                backend: format!("{:?}", info.backend),
                driver: info.driver,
            }
        })
        .collect()
}

/// Number of adapters; 0 without a Vulkan driver (never panics).
pub fn adapter_count() -> usize {
    all_adapters().list.len()
}

/// Whether at least one adapter is there.
pub fn is_available() -> bool {
    adapter_count() > 0
}

/// Codes of the error record (`ERROR_*` in indexing.wgsl).
const ERROR_INDEX_OUT_OF_RANGE: u32 = 1;
const ERROR_INTEGER_DIVISION_BY_ZERO: u32 = 2;
/// The record: code, op, index (low, high words), dim, size.
pub(crate) const ERROR_WORDS: usize = 8;

fn error_op_name(op: u32) -> &'static str {
    match op {
        1 => "index_select",
        2 => "gather",
        3 => "scatter",
        4 => "scatter_add",
        5 => "max_pool2d_backward",
        _ => "indexing",
    }
}

/// How a buffer is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Access {
    Read,
    Write,
}

/// One buffer argument of a dispatch.
pub(crate) struct Arg<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub access: Access,
}

pub(crate) fn read(s: &WgpuStorage) -> Arg<'_> {
    Arg {
        buffer: s.buffer(),
        access: Access::Read,
    }
}

pub(crate) fn write(s: &WgpuStorage) -> Arg<'_> {
    Arg {
        buffer: s.buffer(),
        access: Access::Write,
    }
}

/// One adapter's shared state.
pub struct WgpuDevice {
    pub(crate) index: usize,
    pub(crate) info: wgpu::AdapterInfo,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) features: wgpu::Features,
    pub(crate) limits: wgpu::Limits,
    pub(crate) pool: Mutex<Pool>,
    pipelines: Mutex<HashMap<(ShaderSpec, &'static str), Arc<wgpu::ComputePipeline>>>,
    layouts: Mutex<HashMap<Vec<Access>, wgpu::BindGroupLayout>>,
    /// Error records (`ERROR_WORDS` u32s) that shaders flag errors in, one per host thread:
    /// an error is reported to the thread that queued the faulty op, at its next sync.
    errors: Mutex<HashMap<std::thread::ThreadId, wgpu::Buffer>>,
    /// Validation errors wgpu reported outside error scopes, surfaced at the next sync.
    uncaptured: Arc<Mutex<Vec<String>>>,
    submissions: AtomicUsize,
}

impl std::fmt::Debug for WgpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WgpuDevice({}, {})", self.index, self.info.name)
    }
}

impl WgpuDevice {
    /// The shared state of adapter `index`, created on first use.
    pub(crate) fn get(index: usize) -> Result<Arc<WgpuDevice>> {
        static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<WgpuDevice>>>> = OnceLock::new();
        let adapters = &all_adapters().list;
        if adapters.is_empty() {
            return Err(backend_error(
                "no wgpu adapter found (no Vulkan driver: install mesa-vulkan-drivers and \
                 libvulkan1 for the lavapipe CPU adapter)",
            ));
        }
        let adapter = adapters.get(index).ok_or_else(|| {
            backend_error(format!(
                "invalid adapter index wgpu:{index}: {} adapter(s) present",
                adapters.len()
            ))
        })?;
        let mut devices = lock(DEVICES.get_or_init(Default::default));
        if let Some(d) = devices.get(&index) {
            return Ok(d.clone());
        }
        let device = Arc::new(Self::open(index, adapter)?);
        devices.insert(index, device.clone());
        Ok(device)
    }

    fn open(index: usize, adapter: &wgpu::Adapter) -> Result<WgpuDevice> {
        let info = adapter.get_info();
        let wanted =
            wgpu::Features::SHADER_F16 | wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64;
        let features = adapter.features() & wanted;
        // The adapter's own limits: the defaults cap storage bindings at 128 MiB and buffers
        // at 256 MiB whatever the hardware offers.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("tiny-torch"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| backend_error(format!("requesting a device of {}: {e}", info.name)))?;
        let uncaptured: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            lock(&sink).push(e.to_string());
        }));
        Ok(WgpuDevice {
            index,
            info,
            device,
            queue,
            features,
            limits,
            pool: Mutex::default(),
            pipelines: Mutex::default(),
            layouts: Mutex::default(),
            errors: Mutex::default(),
            uncaptured,
            submissions: AtomicUsize::new(0),
        })
    }

    /// The calling thread's error record (zeroed when created).
    pub(crate) fn error_record(&self) -> wgpu::Buffer {
        let mut errors = lock(&self.errors);
        errors
            .entry(std::thread::current().id())
            .or_insert_with(|| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("tiny-torch error record"),
                    size: (ERROR_WORDS * 4) as u64,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .clone()
    }

    /// Whether buffers of `dtype` exist on this adapter (see `shader.rs` for the mapping).
    pub(crate) fn supports(&self, dtype: DType) -> bool {
        match dtype {
            DType::F32 | DType::I32 | DType::U8 | DType::Bool | DType::BF16 => true,
            DType::I64 => self.features.contains(wgpu::Features::SHADER_INT64),
            // f64 NaN tests read the bits as u64 (see `shader::nan_fn`).
            DType::F64 => self
                .features
                .contains(wgpu::Features::SHADER_F64 | wgpu::Features::SHADER_INT64),
            DType::F16 => self.features.contains(wgpu::Features::SHADER_F16),
        }
    }

    /// `Unsupported` naming `op` unless every dtype has buffers on this adapter.
    pub(crate) fn check(&self, op: &str, dtypes: &[DType]) -> Result<()> {
        match dtypes.iter().find(|&&d| !self.supports(d)) {
            Some(&d) => Err(Error::unsupported(op, d, "wgpu")),
            None => Ok(()),
        }
    }

    fn bind_group_layout(&self, access: &[Access]) -> wgpu::BindGroupLayout {
        let mut layouts = lock(&self.layouts);
        if let Some(l) = layouts.get(access) {
            return l.clone();
        }
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, a) in access.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *a == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: None,
                entries: &entries,
            });
        layouts.insert(access.to_vec(), layout.clone());
        layout
    }

    /// The pipeline of `entry` in `spec`, compiled on first use; shader errors are returned.
    fn pipeline(
        &self,
        spec: &ShaderSpec,
        entry: &'static str,
        layout: &wgpu::BindGroupLayout,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = (spec.clone(), entry);
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(p.clone());
        }
        let source = spec.source()?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(spec.stem),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &[],
                    // Shaders initialise what they read of workgroup memory themselves.
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(backend_error(format!(
                "compiling {entry} of {}.wgsl: {e}",
                spec.stem
            )));
        }
        let pipeline = Arc::new(pipeline);
        lock(&self.pipelines).insert(key, pipeline.clone());
        Ok(pipeline)
    }

    /// Queues one dispatch of `entry`: `params` (a `repr(C)` struct's bytes) at binding 0,
    /// then `args` at bindings 1, 2, ... Returns at once.
    pub(crate) fn dispatch(
        self: &Arc<Self>,
        spec: &ShaderSpec,
        entry: &'static str,
        params: &[u8],
        args: &[Arg<'_>],
        workgroups: [u32; 3],
    ) -> Result<()> {
        if workgroups.contains(&0) {
            return Ok(());
        }
        let access: Vec<Access> = args.iter().map(|a| a.access).collect();
        let layout = self.bind_group_layout(&access);
        let pipeline = self.pipeline(spec, entry, &layout)?;
        let uniform =
            crate::storage::alloc_buffer(self, BufferKind::Uniform, params.len().max(16))?;
        if !params.is_empty() {
            self.queue.write_buffer(uniform.buffer(), 0, params);
        }
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.buffer().as_entire_binding(),
        }];
        for (i, a) in args.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: a.buffer.as_entire_binding(),
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &entries,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(entry),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        }
        self.submit(encoder);
        Ok(())
    }

    /// Submits recorded work; every so often lets wgpu free finished submissions' resources
    /// (a non-blocking poll).
    pub(crate) fn submit(&self, encoder: wgpu::CommandEncoder) {
        self.queue.submit([encoder.finish()]);
        if self.submissions.fetch_add(1, Ordering::Relaxed) % 64 == 63 {
            let _ = self.device.poll(wgpu::PollType::Poll);
        }
    }

    /// Reads `bytes` bytes of `buffer` from byte `start` (both multiples of 4), with the error
    /// record, waiting for all queued work; reports errors shaders flagged since the last sync.
    pub(crate) fn read(&self, buffer: &wgpu::Buffer, start: u64, bytes: u64) -> Result<Vec<u8>> {
        let staging_size = bytes + (ERROR_WORDS * 4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("tiny-torch read-back"),
            size: staging_size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        if bytes > 0 {
            encoder.copy_buffer_to_buffer(buffer, start, &staging, 0, bytes);
        }
        let errors = self.error_record();
        encoder.copy_buffer_to_buffer(&errors, 0, &staging, bytes, (ERROR_WORDS * 4) as u64);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..);
        let mapped: Arc<Mutex<Option<std::result::Result<(), wgpu::BufferAsyncError>>>> =
            Arc::default();
        let done = mapped.clone();
        slice.map_async(wgpu::MapMode::Read, move |r| *lock(&done) = Some(r));
        // Another thread's poll may be the one that runs this mapping's callback (and a wait
        // may return while it does), so poll until the callback has run.
        let start = std::time::Instant::now();
        loop {
            self.device
                .poll(wgpu::PollType::Wait {
                    submission_index: None,
                    timeout: None,
                })
                .map_err(|e| backend_error(format!("waiting for the device: {e}")))?;
            match lock(&mapped).take() {
                Some(Ok(())) => break,
                Some(Err(e)) => {
                    return Err(backend_error(format!("mapping a read-back buffer: {e}")));
                }
                None if start.elapsed() > std::time::Duration::from_secs(600) => {
                    return Err(backend_error(
                        "the read-back buffer was not mapped in 600 s",
                    ));
                }
                None => std::thread::yield_now(),
            }
        }
        let data = slice
            .get_mapped_range()
            .map_err(|e| backend_error(format!("reading a mapped buffer: {e}")))?
            .to_vec();
        drop(staging);
        self.take_uncaptured()?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&data[bytes as usize..]);
        if words[0] != 0 {
            self.queue.write_buffer(&errors, 0, &[0u8; ERROR_WORDS * 4]);
            return Err(record_error(&words));
        }
        let mut data = data;
        data.truncate(bytes as usize);
        Ok(data)
    }

    fn take_uncaptured(&self) -> Result<()> {
        let errors = std::mem::take(&mut *lock(&self.uncaptured));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(backend_error(errors.join("; ")))
        }
    }

    /// Waits for every queued op, then reports errors flagged since the last sync.
    pub(crate) fn synchronize(&self) -> Result<()> {
        self.read(&self.error_record(), 0, 0).map(|_| ())
    }
}

/// The error a non-zero error record stands for.
fn record_error(words: &[u32]) -> Error {
    let code = words[0];
    if code & ERROR_INDEX_OUT_OF_RANGE != 0 {
        let index = ((words[3] as u64) << 32 | words[2] as u64) as i64;
        return Error::IndexOutOfRange {
            op: error_op_name(words[1]),
            index,
            dim: words[4] as usize,
            size: words[5] as usize,
        };
    }
    if code & ERROR_INTEGER_DIVISION_BY_ZERO != 0 {
        return Error::invalid(
            "div",
            "ZeroDivisionError: integer division by zero (in an op queued since the last \
             synchronization)",
        );
    }
    backend_error(format!("a shader reported error code {code}"))
}
