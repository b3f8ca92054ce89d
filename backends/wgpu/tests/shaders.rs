//! Every shader instantiation the backend can ask for parses and validates with naga (all
//! validation flags, all capabilities), every file of `shaders/` is among them, and no entry
//! point uses more workgroup memory than the 32 KiB every adapter here offers (naga does not
//! check device limits).

use naga::valid::{Capabilities, ValidationFlags, Validator};

const WORKGROUP_MEMORY_LIMIT: u32 = 32 * 1024;

fn validate(name: &str, source: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name} does not parse:\n{}", e.emit_to_string(source)));
    Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name} does not validate:\n{}", e.emit_to_string(source)));
    module
}

fn workgroup_bytes(module: &naga::Module) -> u32 {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).unwrap();
    module
        .global_variables
        .iter()
        .filter(|(_, v)| v.space == naga::AddressSpace::WorkGroup)
        .map(|(_, v)| layouter[v.ty].size)
        .sum()
}

#[test]
fn every_shader_variant_validates_within_workgroup_memory() {
    let variants = tiny_torch_wgpu::shader_variants();
    let mut entry_points = 0;
    for (name, source) in &variants {
        let module = validate(name, source);
        assert!(!module.entry_points.is_empty(), "{name} has no entry point");
        entry_points += module.entry_points.len();
        let bytes = workgroup_bytes(&module);
        assert!(
            bytes <= WORKGROUP_MEMORY_LIMIT,
            "{name} uses {bytes} bytes of workgroup memory (limit {WORKGROUP_MEMORY_LIMIT})"
        );
    }
    println!(
        "{} shader variants, {entry_points} entry points validated",
        variants.len()
    );
    // Every file is instantiated at least once (or, while it holds no entry point yet, parses
    // on its own after common.wgsl).
    let common = tiny_torch_wgpu::SHADERS[0].1;
    for (stem, source) in &tiny_torch_wgpu::SHADERS[1..] {
        let prefix = format!("{stem}.wgsl #");
        if !variants.iter().any(|(n, _)| n.starts_with(&prefix)) {
            validate(stem, &format!("{common}{source}"));
        }
    }
}
