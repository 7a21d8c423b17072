"""CIFAR-5M as next-pixel prediction: each image becomes 1024 grey levels (vocabulary 256), one row each.

Facts from the paper's public code (read, not copied): grey = mean of R, G, B cast to uint8, i.e. the floor
(R+G+B)//3 (we compute it in integers, which is exactly that); raster order (row by row, left to right);
no BOS or EOS; the token stream is read in rows of 1024, so a row is one image.

Token 0 (a black pixel) and the loss: the paper's train.py means to leave targets equal to 0 (its padding id)
out of the loss, through 0/1 `weights` from its data loader, but it averages the per-token cross-entropies to
one scalar (`.mean()`) *before* weighting, so `sum(loss * weights) / (weights.sum() + 1e-6)` is that same
scalar times S / (S + 1e-6): the weights cancel and its runs counted every pixel. Our `mask_zero_targets`
(recorded in meta.json, applied by training) defaults to false, which is what the paper's runs computed;
true gives the intended masking. README, "Masking token 0", has the details.

The shards are `cifar5m_part{0..5}.npz`, each with 'X' (N, 32, 32, 3) uint8 and 'Y' labels. np.savez
stores members uncompressed, so 'X' is memory-mapped straight from the zip file and workers read slices of
it; a compressed member falls back to one full read.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

IMAGE_SHAPE = (32, 32, 3)
TOKENS_PER_IMAGE = 32 * 32
VOCAB_SIZE = 256


def grayscale_tokens(rgb: np.ndarray) -> np.ndarray:
    """(B, 32, 32, 3) uint8 RGB -> (B, 1024) uint16 grey levels floor((R+G+B)/3) in raster order."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 4 or rgb.shape[1:] != IMAGE_SHAPE or rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of shape (B, 32, 32, 3), got {rgb.dtype} {rgb.shape}")
    grey = rgb[..., 0].astype(np.uint16)  # channel by channel: ~20x faster than sum(axis=-1) here
    grey += rgb[..., 1]
    grey += rgb[..., 2]
    grey //= 3
    return grey.reshape(len(rgb), TOKENS_PER_IMAGE)


def open_images(path: str | os.PathLike) -> np.ndarray:
    """The 'X' array of a CIFAR-5M npz shard, memory-mapped when stored uncompressed.

    Raises a ValueError naming the file when it is not a complete zip, lacks 'X', or has the wrong shape.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: CIFAR-5M shard does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                info = zf.getinfo("X.npy")
            except KeyError:
                raise ValueError(f"{path}: npz has no array 'X' (members: {zf.namelist()})") from None
            stored = info.compress_type == zipfile.ZIP_STORED
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path}: not a complete npz/zip file ({err}); truncated download?") from None
    if stored:
        images = _memmap_member(path, info)
    else:
        try:
            with np.load(path) as npz:
                images = npz["X"]
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
            raise ValueError(f"{path}: cannot read array 'X' ({err})") from None
    if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE or images.dtype != np.uint8:
        raise ValueError(f"{path}: 'X' should be uint8 (N, 32, 32, 3), got {images.dtype} {images.shape}")
    return images


def _memmap_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path}: corrupt zip local header of 'X.npy'")
        name_len = int.from_bytes(local[26:28], "little")
        extra_len = int.from_bytes(local[28:30], "little")
        f.seek(info.header_offset + 30 + name_len + extra_len)
        try:
            version = np.lib.format.read_magic(f)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise ValueError(f"npy format version {version} is not supported")
            shape, fortran, dtype = read_header(f)
        except ValueError as err:
            raise ValueError(f"{path}: 'X.npy' has a bad npy header ({err})") from None
        offset = f.tell()
    if fortran:
        raise ValueError(f"{path}: 'X' is stored in Fortran order; expected C order")
    need = offset + int(np.prod(shape)) * dtype.itemsize
    if need > size:
        raise ValueError(f"{path}: truncated: 'X' {shape} needs {need} bytes, the file has {size}")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def tokenize_slice(path: str, start: int, stop: int) -> np.ndarray:
    """Rows of images start..stop-1 of one shard (a worker's unit of work)."""
    return grayscale_tokens(np.ascontiguousarray(open_images(path)[start:stop]))
