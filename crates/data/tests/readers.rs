//! Readers: MNIST IDX, CIFAR-10 binary batches and ImageFolder on small files written here
//! (and corrupt ones), the embedded digits set, and the real MNIST when it is present.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::{Path, PathBuf};
use tiny_torch_core::Error;
use tiny_torch_data::Dataset;
use tiny_torch_data::datasets::{Cifar10, ImageFolder, Mnist};

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// 3 images of 2x3 (pixel = 10 * image + position) and labels 7, 0, 9.
fn write_mnist(dir: &Path, prefix: &str, gzip: bool) {
    let pixels: Vec<u8> = (0..3u8)
        .flat_map(|i| (0..6u8).map(move |p| 10 * i + p))
        .collect();
    let images = idx(0x803, &[3, 2, 3], &pixels);
    let labels = idx(0x801, &[3], &[7, 0, 9]);
    let (ext, images, labels) = if gzip {
        (".gz", gz(&images), gz(&labels))
    } else {
        ("", images, labels)
    };
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), images).unwrap();
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), labels).unwrap();
}

/// The error is `Error::File` for a path ending in `file`, and its message contains `what`.
fn assert_file_error<T: std::fmt::Debug>(r: tiny_torch_core::Result<T>, file: &str, what: &str) {
    match r {
        Err(Error::File { path, msg }) => {
            assert!(
                path.to_string_lossy().ends_with(file),
                "error names {} instead of {file}: {msg}",
                path.display()
            );
            assert!(msg.contains(what), "message {msg:?} lacks {what:?}");
            // The Display form names the file too.
            let shown = Error::File { path, msg }.to_string();
            assert!(shown.contains(file), "{shown}");
        }
        other => panic!("expected a file error naming {file}, got {other:?}"),
    }
}

#[test]
fn mnist_raw_and_gzip() {
    for gzip in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_mnist(dir.path(), "train", gzip);
        write_mnist(dir.path(), "t10k", gzip);
        for train in [true, false] {
            let m = Mnist::new(dir.path(), train).unwrap();
            assert_eq!(m.len(), 3);
            assert_eq!(m.image_size(), (2, 3));
            let (im, label) = m.get(2).unwrap();
            assert_eq!(label, 9);
            assert_eq!(im.shape(), [1, 2, 3]);
            assert_eq!(im.to_f32_vec(), vec![20.0, 21.0, 22.0, 23.0, 24.0, 25.0]);
            assert!(m.get(3).is_err());
        }
        let f = Mnist::fashion(dir.path(), true).unwrap();
        assert_eq!(f.classes()[9], "Ankle boot");
    }
}

#[test]
fn mnist_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Missing.
    assert_file_error(
        Mnist::new(d, true),
        "train-images-idx3-ubyte.gz",
        "no such file",
    );
    assert_file_error(
        Mnist::new(d.join("nowhere"), true),
        "train-images-idx3-ubyte.gz",
        "does not exist",
    );
    let pixels = vec![0u8; 3 * 6];
    let labels_ok = idx(0x801, &[3], &[1, 2, 3]);
    let write = |images: Vec<u8>, labels: Vec<u8>| {
        std::fs::write(d.join("train-images-idx3-ubyte"), images).unwrap();
        std::fs::write(d.join("train-labels-idx1-ubyte"), labels).unwrap();
    };
    // Bad magic number (a label file where the images should be).
    write(labels_ok.clone(), labels_ok.clone());
    assert_file_error(
        Mnist::new(d, true),
        "train-images-idx3-ubyte",
        "bad magic number 0x00000801",
    );
    // Truncated images.
    write(idx(0x803, &[3, 2, 3], &pixels[..17]), labels_ok.clone());
    assert_file_error(Mnist::new(d, true), "train-images-idx3-ubyte", "truncated");
    // Truncated header.
    write(idx(0x803, &[3], &[]), labels_ok.clone());
    assert_file_error(Mnist::new(d, true), "train-images-idx3-ubyte", "truncated");
    // Label/image count mismatch.
    write(idx(0x803, &[3, 2, 3], &pixels), idx(0x801, &[2], &[1, 2]));
    assert_file_error(
        Mnist::new(d, true),
        "train-labels-idx1-ubyte",
        "label/image count mismatch: 2 labels for the 3 images",
    );
    // A label outside 0..9.
    write(
        idx(0x803, &[3, 2, 3], &pixels),
        idx(0x801, &[3], &[1, 12, 3]),
    );
    assert_file_error(Mnist::new(d, true), "train-labels-idx1-ubyte", "label 12");
    // A truncated gzip stream.
    std::fs::remove_file(d.join("train-images-idx3-ubyte")).unwrap();
    let full = gz(&idx(0x803, &[3, 2, 3], &pixels));
    std::fs::write(
        d.join("train-images-idx3-ubyte.gz"),
        &full[..full.len() / 2],
    )
    .unwrap();
    assert_file_error(Mnist::new(d, true), "train-images-idx3-ubyte.gz", "gzip");
}

fn cifar_records(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        for c in 0..3u32 {
            for p in 0..1024u32 {
                out.push(((i as u32 * 7 + c * 50 + p) % 256) as u8);
            }
        }
    }
    out
}

#[test]
fn cifar10_batches() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&root).unwrap();
    for b in 1..=5u8 {
        std::fs::write(
            root.join(format!("data_batch_{b}.bin")),
            cifar_records(&[b, 9 - b]),
        )
        .unwrap();
    }
    std::fs::write(root.join("test_batch.bin"), cifar_records(&[3, 1, 4])).unwrap();
    // Either the folder the archive unpacks into or its parent.
    let train = Cifar10::new(dir.path(), true).unwrap();
    assert_eq!(train.len(), 10);
    let labels: Vec<i64> = (0..10).map(|i| train.get(i).unwrap().1).collect();
    assert_eq!(labels, vec![1, 8, 2, 7, 3, 6, 4, 5, 5, 4]);
    let test = Cifar10::new(&root, false).unwrap();
    assert_eq!(test.len(), 3);
    let (im, label) = test.get(1).unwrap();
    assert_eq!(label, 1);
    assert_eq!(im.shape(), [3, 32, 32]);
    // Channel 1 (green), row 2, column 5 of record 1: (1 * 7 + 50 + 2 * 32 + 5) % 256.
    assert_eq!(im.get(1, 2, 5), Some((7 + 50 + 64 + 5) as f32));
    assert_eq!(test.classes()[3], "cat");

    // Corrupt files.
    std::fs::write(root.join("test_batch.bin"), &cifar_records(&[3, 1])[..5000]).unwrap();
    assert_file_error(Cifar10::new(&root, false), "test_batch.bin", "truncated");
    std::fs::write(root.join("test_batch.bin"), cifar_records(&[3, 200])).unwrap();
    assert_file_error(
        Cifar10::new(&root, false),
        "test_batch.bin",
        "bad label byte 200",
    );
    std::fs::remove_file(root.join("data_batch_4.bin")).unwrap();
    assert_file_error(
        Cifar10::new(&root, true),
        "data_batch_4.bin",
        "no such file",
    );
}

fn write_png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            rgb[0],
            rgb[1].wrapping_add(x as u8),
            rgb[2].wrapping_add(y as u8),
        ])
    });
    img.save(path).unwrap();
}

/// Within a class, torchvision's order (`sorted(os.walk(...))`): a folder's own files, then its
/// subfolders by path string. The expected list is what torchvision 0.29.2's `ImageFolder`
/// gives for the same tree.
#[test]
fn image_folder_orders_nested_files_as_torchvision() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["cat/more/deeper", "cat/more-x", "dog"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    for file in [
        "cat/x.png",
        "cat/z.png",
        "cat/more/c.png",
        "cat/more-x/w.png",
        "cat/more/deeper/v.png",
        "dog/b.png",
    ] {
        write_png(&root.join(file), 1, 1, [0, 0, 0]);
    }
    let folder = ImageFolder::new(root).unwrap();
    let names: Vec<String> = folder
        .samples()
        .iter()
        .map(|(p, _)| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "cat/x.png",
            "cat/z.png",
            "cat/more/c.png",
            "cat/more-x/w.png",
            "cat/more/deeper/v.png",
            "dog/b.png"
        ]
    );
}

#[test]
fn image_folder_sorted_classes_and_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for class in ["dog", "cat", "Zebra"] {
        std::fs::create_dir(root.join(class)).unwrap();
    }
    std::fs::create_dir(root.join("cat").join("more")).unwrap();
    write_png(&root.join("dog/b.png"), 3, 2, [10, 20, 30]);
    write_png(&root.join("dog/a.PNG"), 2, 2, [1, 2, 3]);
    write_png(&root.join("cat/more/c.png"), 4, 1, [5, 5, 5]);
    write_png(&root.join("Zebra/z.png"), 1, 1, [9, 9, 9]);
    // A gray JPEG: lossy, but a flat image decodes to nearly its value.
    image::GrayImage::from_pixel(8, 8, image::Luma([128]))
        .save(root.join("cat/x.jpg"))
        .unwrap();
    std::fs::write(root.join("dog/notes.txt"), "not an image").unwrap();

    let folder = ImageFolder::new(root).unwrap();
    // Python's sorted(): uppercase before lowercase.
    assert_eq!(folder.classes(), &["Zebra", "cat", "dog"]);
    assert_eq!(folder.class_to_idx()["dog"], 2);
    let names: Vec<String> = folder
        .samples()
        .iter()
        .map(|(p, c)| format!("{}:{c}", p.strip_prefix(root).unwrap().display()))
        .collect();
    assert_eq!(
        names,
        vec![
            "Zebra/z.png:0",
            "cat/x.jpg:1",
            "cat/more/c.png:1",
            "dog/a.PNG:2",
            "dog/b.png:2"
        ]
    );
    let (im, label) = folder.get(4).unwrap();
    assert_eq!(label, 2);
    assert_eq!(im.shape(), [3, 2, 3]);
    // Pixel (y=1, x=2) of b.png: [10, 20 + 2, 30 + 1].
    assert_eq!(
        [im.get(0, 1, 2), im.get(1, 1, 2), im.get(2, 1, 2)],
        [Some(10.0), Some(22.0), Some(31.0)]
    );
    // Outside the image: no value, not the next row's.
    assert_eq!(
        [im.get(0, 1, 3), im.get(3, 0, 0), im.get(0, 2, 0)],
        [None; 3]
    );
    let (gray, _) = folder.get(1).unwrap();
    assert_eq!(gray.shape(), [3, 8, 8]);
    assert!(gray.to_f32_vec().iter().all(|v| (v - 128.0).abs() <= 2.0));

    // A corrupt file: an error naming it when read.
    std::fs::write(root.join("dog/b.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    assert_file_error(folder.get(4), "b.png", "cannot decode");
    // A class with no image.
    std::fs::create_dir(root.join("empty")).unwrap();
    assert_file_error(
        ImageFolder::new(root),
        root.file_name().unwrap().to_str().unwrap(),
        "found no valid file for the classes empty",
    );
    assert!(ImageFolder::new(root.join("missing")).is_err());
}

#[test]
fn embedded_digits() {
    let train = Mnist::embedded(true).unwrap();
    let test = Mnist::embedded(false).unwrap();
    assert_eq!((train.len(), test.len()), (10_000, 2_000));
    assert_eq!(&train.labels()[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(&test.labels()[..5], &[7, 2, 1, 0, 4]);
    // The histograms recorded in assets/mnist-small/SOURCE.md.
    assert_eq!(
        histogram(train.labels()),
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    assert_eq!(
        histogram(test.labels()),
        [175, 234, 219, 207, 217, 179, 178, 205, 192, 194]
    );
    // Real pixels: the first training image has MNIST's usual ink fraction.
    let (im, _) = train.get(0).unwrap();
    let ink = im.to_f32_vec().iter().filter(|&&v| v > 0.0).count();
    assert!((100..250).contains(&ink), "{ink} non-zero pixels");
}

fn histogram(labels: &[u8]) -> [usize; 10] {
    let mut h = [0; 10];
    for &l in labels {
        h[l as usize] += 1;
    }
    h
}

fn real_mnist_dir() -> Option<PathBuf> {
    [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist"),
        PathBuf::from("/work/shared/data/mnist"),
    ]
    .into_iter()
    .find(|p| p.join("train-images-idx3-ubyte.gz").is_file())
}

#[test]
fn real_mnist_when_present() {
    let Some(dir) = real_mnist_dir() else {
        println!("skipped: the real MNIST (../shared/data/mnist) is not on this machine");
        return;
    };
    let train = Mnist::new(&dir, true).unwrap();
    let test = Mnist::new(&dir, false).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.image_size(), (28, 28));
    assert_eq!(&train.labels()[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(
        histogram(test.labels()),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // Every class has between 5,000 and 7,000 training images; the total is 60,000.
    let h = histogram(train.labels());
    assert!(h.iter().all(|&c| (5_000..7_000).contains(&c)), "{h:?}");
    // The embedded set is the head of the real one, pixel for pixel.
    let small = Mnist::embedded(true).unwrap();
    for i in [0, 1, 4_999, 9_999] {
        assert_eq!(small.get(i).unwrap(), train.get(i).unwrap());
    }
    let small_test = Mnist::embedded(false).unwrap();
    assert_eq!(small_test.get(1_999).unwrap(), test.get(1_999).unwrap());
}

/// A class folder whose name is not UTF-8 is an error naming it: skipping it, as before, lost
/// its samples and shifted the labels of the classes after it (torchvision keeps it as a class).
#[cfg(unix)]
#[test]
fn image_folder_refuses_a_class_name_that_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let latin1 = root.join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir_all(&latin1).unwrap();
    std::fs::create_dir_all(root.join("dog")).unwrap();
    write_png(&latin1.join("a.png"), 1, 1, [0, 0, 0]);
    write_png(&root.join("dog/b.png"), 1, 1, [0, 0, 0]);
    let err = ImageFolder::new(root).unwrap_err().to_string();
    assert!(err.contains("not UTF-8") && err.contains("caf"), "{err}");
}
