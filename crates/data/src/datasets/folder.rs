//! `ImageFolder`: one sub-folder per class, JPEG and PNG files decoded with the `image` crate.

use crate::dataset::{Dataset, check_index};
use crate::image::Image;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tiny_torch_core::{Error, Result};

/// The extensions read (case-insensitive). torchvision also lists ppm, bmp, pgm, tif and webp;
/// this build decodes JPEG and PNG only, and skips other files.
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

/// `torchvision.datasets.ImageFolder`: `root/<class>/**/<file>.{jpg,jpeg,png}`. Classes are the
/// sub-folder names sorted (as strings, like Python's `sorted`), numbered from 0; the files of
/// each class are found recursively, in sorted order. Samples are `(Image [3, H, W] u8,
/// class index)`, decoded and converted to RGB when read (torchvision's default loader).
#[derive(Clone, Debug)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    samples: Vec<(PathBuf, usize)>,
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Image files under `dir` in torchvision's order (`sorted(os.walk(dir, followlinks=True))`,
/// then each folder's `sorted(fnames)`): folders in the order of their path strings, so a
/// folder's own files come before its subfolders' (and `more-x/` before `more/deeper/`: '-'
/// sorts before '/'), each folder's files by name. Symlinks are followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut folders: Vec<(PathBuf, Vec<PathBuf>)> = Vec::new();
    collect_folders(dir, &mut folders, 0)?;
    // Python compares str by code point, which is the order of their UTF-8 bytes.
    folders.sort_by(|a, b| {
        a.0.as_os_str()
            .as_encoded_bytes()
            .cmp(b.0.as_os_str().as_encoded_bytes())
    });
    for (_, files) in folders {
        out.extend(files);
    }
    Ok(())
}

/// `dir` and every folder below it, each with its image files sorted by name.
fn collect_folders(
    dir: &Path,
    folders: &mut Vec<(PathBuf, Vec<PathBuf>)>,
    depth: usize,
) -> Result<()> {
    if depth > 64 {
        return Err(Error::file(
            dir,
            "folders nested more than 64 deep (a symlink loop?)",
        ));
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::file(dir, format!("cannot list folder: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let (subfolders, files): (Vec<PathBuf>, Vec<PathBuf>) =
        entries.into_iter().partition(|p| p.is_dir());
    let mut images: Vec<PathBuf> = files.into_iter().filter(|p| is_image(p)).collect();
    images.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    folders.push((dir.to_path_buf(), images));
    for sub in subfolders {
        collect_folders(&sub, folders, depth + 1)?;
    }
    Ok(())
}

impl ImageFolder {
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if !root.is_dir() {
            return Err(Error::file(&root, "no such folder"));
        }
        // A class folder whose name is not UTF-8 is an error: skipping it would drop its
        // samples and shift the labels of the classes after it.
        let entries = std::fs::read_dir(&root)
            .map_err(|e| Error::file(&root, format!("cannot list folder: {e}")))?
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::file(&root, format!("cannot list folder: {e}")))?;
        let mut classes: Vec<String> = entries
            .into_iter()
            .filter(|e| e.path().is_dir())
            .map(|e| {
                e.file_name().into_string().map_err(|name| {
                    Error::file(
                        e.path(),
                        format!("the class folder name {name:?} is not UTF-8"),
                    )
                })
            })
            .collect::<Result<_>>()?;
        classes.sort();
        if classes.is_empty() {
            return Err(Error::file(&root, "couldn't find any class folder"));
        }
        let mut samples = Vec::new();
        let mut empty = Vec::new();
        for (index, class) in classes.iter().enumerate() {
            let mut files = Vec::new();
            walk(&root.join(class), &mut files)?;
            if files.is_empty() {
                empty.push(class.clone());
            }
            samples.extend(files.into_iter().map(|f| (f, index)));
        }
        if !empty.is_empty() {
            return Err(Error::file(
                &root,
                format!(
                    "found no valid file for the classes {}; supported extensions are: {}",
                    empty.join(", "),
                    IMAGE_EXTENSIONS.map(|e| format!(".{e}")).join(", ")
                ),
            ));
        }
        Ok(ImageFolder {
            root,
            classes,
            samples,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Sorted class names; a label is an index into this.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn class_to_idx(&self) -> BTreeMap<String, usize> {
        self.classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect()
    }

    /// `(path, class index)` of every sample, in order.
    pub fn samples(&self) -> &[(PathBuf, usize)] {
        &self.samples
    }

    /// Decodes one JPEG or PNG file to an RGB `u8` image.
    pub fn load(path: &Path) -> Result<Image> {
        let bytes =
            std::fs::read(path).map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
        let decoded = image::load_from_memory(&bytes)
            .map_err(|e| Error::file(path, format!("cannot decode image: {e}")))?;
        let rgb = decoded.to_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        Image::from_hwc_u8(rgb.as_raw(), h, w, 3)
    }
}

impl Dataset for ImageFolder {
    type Item = (Image, i64);

    fn len(&self) -> usize {
        self.samples.len()
    }

    fn get(&self, index: usize) -> Result<(Image, i64)> {
        check_index("ImageFolder", index, self.samples.len())?;
        let (path, class) = &self.samples[index];
        Ok((Self::load(path)?, *class as i64))
    }
}
