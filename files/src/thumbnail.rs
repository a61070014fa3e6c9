//! Thumbnails: an image scaled to fit two boxes, made once per content and stored beside it.

use image::{DynamicImage, ImageReader, Limits};
use std::io::Cursor;
use thiserror::Error;

/// The boxes thumbnails fit in: a list's small preview and a message's large one.
pub const THUMBNAIL_SIZES: [(ThumbnailSize, u32); 2] =
    [(ThumbnailSize::Small, 256), (ThumbnailSize::Large, 1024)];
/// Images larger than this (bytes) get no thumbnail: decoding them costs too much memory.
pub const THUMBNAIL_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Nor do images wider or taller than this, whatever their file size (a decompression bomb).
const MAX_SIDE: u32 = 16_384;
/// What decoding one image may allocate.
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThumbnailSize {
    Small,
    Large,
}

impl ThumbnailSize {
    pub fn as_str(self) -> &'static str {
        match self {
            ThumbnailSize::Small => "small",
            ThumbnailSize::Large => "large",
        }
    }

    pub fn parse(text: &str) -> Option<ThumbnailSize> {
        THUMBNAIL_SIZES
            .iter()
            .map(|(size, _)| *size)
            .find(|size| size.as_str() == text)
    }
}

#[derive(Debug, Error)]
pub enum ThumbnailError {
    #[error("the image cannot be read: {0}")]
    Decode(#[from] image::ImageError),
    #[error("the image's format is not one Parley makes thumbnails of")]
    Format,
}

/// JPEG thumbnails of an image, one per size, each fitting its box with the image's
/// proportions (never enlarged); transparency is laid on white.
pub fn thumbnails(bytes: &[u8]) -> Result<Vec<(ThumbnailSize, Vec<u8>)>, ThumbnailError> {
    let image = reader(bytes)?.decode()?;
    let mut made = Vec::with_capacity(THUMBNAIL_SIZES.len());
    for (size, side) in THUMBNAIL_SIZES {
        let scaled = if image.width() <= side && image.height() <= side {
            image.clone()
        } else {
            image.thumbnail(side, side)
        };
        let mut out = Vec::new();
        flatten(scaled).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)?;
        made.push((size, out));
    }
    Ok(made)
}

/// The side of an avatar, in pixels.
pub const AVATAR_SIDE: u32 = 256;

/// An avatar from an uploaded image (PNG, JPEG, WebP or GIF): the largest centred square, scaled
/// to `AVATAR_SIDE` (never enlarged), as a JPEG. Whatever the upload held besides its pixels
/// (metadata, other frames) is left behind.
pub fn avatar(bytes: &[u8]) -> Result<Vec<u8>, ThumbnailError> {
    let reader = reader(bytes)?;
    if !matches!(
        reader.format(),
        Some(
            image::ImageFormat::Png
                | image::ImageFormat::Jpeg
                | image::ImageFormat::WebP
                | image::ImageFormat::Gif
        )
    ) {
        return Err(ThumbnailError::Format);
    }
    let image = reader.decode()?;
    let side = image.width().min(image.height());
    let square = image.crop_imm(
        (image.width() - side) / 2,
        (image.height() - side) / 2,
        side,
        side,
    );
    let scaled = if side > AVATAR_SIDE {
        square.thumbnail(AVATAR_SIDE, AVATAR_SIDE)
    } else {
        square
    };
    let mut out = Vec::new();
    flatten(scaled).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)?;
    Ok(out)
}

/// A reader of `bytes` in the format they look like, bounded in size and memory (a
/// decompression bomb fails instead of filling memory).
fn reader(bytes: &[u8]) -> Result<ImageReader<Cursor<&[u8]>>, ThumbnailError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| ThumbnailError::Format)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    Ok(reader)
}

/// RGB on a white background (JPEG has no transparency).
fn flatten(image: DynamicImage) -> DynamicImage {
    if !image.color().has_alpha() {
        return DynamicImage::ImageRgb8(image.to_rgb8());
    }
    let rgba = image.to_rgba8();
    let mut rgb = image::RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = px.0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        *out = image::Rgb([over(r), over(g), over(b)]);
    }
    DynamicImage::ImageRgb8(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([
                (x % 256) as u8,
                (y % 256) as u8,
                128,
                if x < 10 { 0 } else { 255 },
            ])
        });
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(image)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn thumbnails_fit_their_boxes_and_keep_proportions() {
        let made = thumbnails(&png(2000, 1000)).unwrap();
        let dims: Vec<(u32, u32)> = made
            .iter()
            .map(|(_, jpeg)| {
                let image = image::load_from_memory(jpeg).unwrap();
                (image.width(), image.height())
            })
            .collect();
        assert_eq!(dims, [(256, 128), (1024, 512)]);
        // A small image is not enlarged; transparent pixels come out white.
        let made = thumbnails(&png(40, 30)).unwrap();
        let large = image::load_from_memory(&made[1].1).unwrap().to_rgb8();
        assert_eq!((large.width(), large.height()), (40, 30));
        assert!(large.get_pixel(0, 0).0.iter().all(|&c| c > 240));
    }

    #[test]
    fn what_is_not_an_image_is_refused() {
        assert!(thumbnails(b"%PDF-1.7").is_err());
        let mut cut = png(100, 100);
        cut.truncate(60);
        assert!(thumbnails(&cut).is_err());
    }

    #[test]
    fn an_avatar_is_the_centred_square_scaled_down() {
        let made = avatar(&png(900, 300)).expect("avatar");
        let back = image::load_from_memory(&made).expect("a JPEG");
        assert_eq!((back.width(), back.height()), (256, 256));
        let small = avatar(&png(40, 60)).expect("avatar");
        let back = image::load_from_memory(&small).expect("a JPEG");
        assert_eq!((back.width(), back.height()), (40, 40), "never enlarged");
        assert!(matches!(
            avatar(b"not an image"),
            Err(ThumbnailError::Format)
        ));
    }
}
