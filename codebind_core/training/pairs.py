"""Real paired datasets from a CSV file or a folder tree (e.g. SUN RGB-D image-depth, AudioCaps
audio-text; paper App. B.1). Nothing is downloaded: the user points at local files.

CSV (``kind: pairs_csv``)::

    path_a,path_b,caption                        # image-depth: path_a = image, path_b = target
    rgb/0001.jpg,depth/0001.png,a photo of a bedroom.
    path_a,caption                               # audio-text: path_a = target
    clips/a.wav,a dog barks while cars pass by

``columns`` overrides the mapping (e.g. ``{image: rgb, depth: d, text: label}``); with a ``label``
column and no caption, the text is ``template.format(label)``. Relative paths resolve against
``root`` (default: the CSV's folder).

Folder (``kind: pairs_folder``)::

    root/image/<class>/<stem>.jpg   root/depth/<class>/<stem>.png     (same <class>/<stem> pairs)

the class folder name gives the text (``template``) and the label.

Files are read by extension: images (.png/.jpg/.jpeg/.bmp/.gif/.tif/.tiff/.webp) with Pillow
(in image columns every mode becomes RGB as ImageBind reads photos, :func:`to_rgb`; in depth
columns 16-bit PNGs stay uint16, i.e. millimetre depth), ``.npy`` with ``allow_pickle=False``,
``.wav`` with scipy. Each item is preprocessed on access (so DataLoader workers parallelise it).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ROW_FIELDS = ("text", "label", "class", "key")  # a row's entries that are not modality files


SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")
RGB_MODALITIES = ("image", "video", "tactile")  # columns read as RGB photos


def to_rgb(im) -> np.ndarray:
    """(H, W, 3) uint8 of any PIL image, as ImageBind reads photos (``Image.convert("RGB")``):
    L, LA, P, 1-bit, CMYK, RGBA, ... through Pillow's own conversion (alpha dropped, CMYK by its
    naive inverse). 16-bit greyscale (I;16, and I) is the exception: Pillow clips it at 255,
    which turns a 16-bit photo white, so it is scaled to 8 bits (round(v * 255 / 65535)) first."""
    from PIL import Image

    if im.mode in SIXTEEN_BIT_MODES:
        v = np.clip(np.asarray(im, dtype=np.float64), 0, 65535)
        im = Image.fromarray(np.rint(v * (255.0 / 65535.0)).astype(np.uint8), mode="L")
    return np.array(im.convert("RGB"))


def _read_image(path: Path, modality: Optional[str] = None) -> np.ndarray:
    """An image file: RGB for photo columns (:func:`to_rgb`); for other columns (depth, thermal)
    16-bit greyscale stays uint16 (millimetre depth), 8-bit greyscale / float stay 2-D."""
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(path)
    except UnidentifiedImageError as e:
        raise ValueError(f"{path}: not an image Pillow can read ({e})") from None
    with im:
        if modality in RGB_MODALITIES:
            return to_rgb(im)
        if im.mode in SIXTEEN_BIT_MODES:
            return np.array(im, dtype=np.uint16) if im.mode != "I" else np.array(im).astype(np.uint16)
        if im.mode in ("L", "F"):
            return np.array(im)
        return to_rgb(im)


def _read_npy(path: Path, modality: Optional[str] = None) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _read_wav(path: Path, modality: Optional[str] = None) -> Dict[str, Any]:
    from scipy.io import wavfile

    rate, data = wavfile.read(path)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    data = np.asarray(data, dtype=np.float32)
    return {"raw": data.T if data.ndim == 2 else data, "sample_rate": int(rate)}


READERS: Dict[str, Callable[..., Any]] = {
    **{e: _read_image for e in IMAGE_EXTS}, ".npy": _read_npy, ".wav": _read_wav,
}


def read_file(path: Path, modality: Optional[str] = None) -> Any:
    """Raw array of one file by extension (audio: {"raw", "sample_rate"}); images of an RGB
    modality's column become (H, W, 3) uint8."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; supported: {sorted(READERS)}")
    if not path.is_file():
        raise ValueError(f"{path}: file not found")
    return reader(path, modality)


class PairRows(torch.utils.data.Dataset):
    """A dataset of rows {modality: ..., "text": caption, "label": int}: length, labels, and an item's
    caption and label beside its tensors."""

    rows: List[Dict[str, Any]]

    def __len__(self) -> int:
        return len(self.rows)

    def _item(self, row: Dict[str, Any], tensors: Dict[str, Any]) -> Dict[str, Any]:
        if "text" in row:
            tensors["text"] = row["text"]
        tensors["label"] = row.get("label", -1)
        return tensors

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([r.get("label", -1) for r in self.rows])


class PairFiles(PairRows):
    """Rows of {modality: file path, "text": caption, "label": int}; item = preprocessed tensors."""

    def __init__(self, rows: List[Dict[str, Any]], target: str, preprocess: Callable[..., torch.Tensor],
                 options: Optional[Dict[str, Dict[str, Any]]] = None):
        if not rows:
            raise ValueError("the paired dataset is empty")
        self.rows, self.target, self.preprocess = rows, target, preprocess
        self.options = options or {}
        self.modalities = tuple(m for m in rows[0] if m not in ROW_FIELDS)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        row = self.rows[i]
        item: Dict[str, Any] = {}
        for m in self.modalities:
            raw = read_file(row[m], m)
            opts = dict(self.options.get(m, {}))
            if isinstance(raw, dict):  # audio carries its sample rate
                opts.setdefault("sample_rate", raw["sample_rate"])
                opts.setdefault("resample", True)
                raw = raw["raw"]
            try:
                item[m] = self.preprocess(m, [raw], **opts)[0]
            except ValueError as e:
                raise ValueError(f"{row[m]}: {e}") from e
        return self._item(row, item)


def collate_files(tokenize: Callable[[List[str]], torch.Tensor]) -> Callable[[List[Dict[str, Any]]], Dict[str, Any]]:
    """Batch builder: tensors stacked, captions tokenized, labels dropped (not a model input)."""
    def collate(items: List[Dict[str, Any]]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for k in items[0]:
            if k == "label":
                continue
            out[k] = tokenize([it[k] for it in items]) if k == "text" else torch.stack([it[k] for it in items])
        return out
    return collate


def rows_from_csv(csv_path: str | Path, target: str, root: Optional[str | Path] = None,
                  columns: Optional[Dict[str, str]] = None, template: str = "a photo of a {}.") -> List[Dict[str, Any]]:
    """Parse a pairs CSV into rows (see module docstring for the column conventions)."""
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise ValueError(f"pairs CSV not found: {csv_path}")
    base = Path(root).expanduser() if root is not None else csv_path.parent
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        records = list(reader)
    if columns is None:
        columns = {"image": "path_a", target: "path_b"} if "path_b" in header else {target: "path_a"}
        if "caption" in header:
            columns["text"] = "caption"
    missing = [c for c in columns.values() if c not in header]
    if missing:
        raise ValueError(f"{csv_path}: missing columns {missing}; it has {header}")
    if target not in columns:
        raise ValueError(f"columns must map the target modality {target!r} to a CSV column")
    classes = sorted({r["label"] for r in records}) if "label" in header else []
    rows = []
    for n, r in enumerate(records, start=2):
        row: Dict[str, Any] = {"key": r[columns[target]]}
        for m, col in columns.items():
            if m == "text":
                row["text"] = r[col]
            else:
                if not r[col]:
                    raise ValueError(f"{csv_path}:{n}: empty {col!r}")
                row[m] = (base / r[col]) if not Path(r[col]).is_absolute() else Path(r[col])
        if classes:
            row["label"], row["class"] = classes.index(r["label"]), r["label"]
            row.setdefault("text", template.format(r["label"]))
        rows.append(row)
    if not rows:
        raise ValueError(f"{csv_path}: no rows")
    if "text" not in rows[0] and "image" not in rows[0]:
        raise ValueError(f"{csv_path}: a pair needs a bridge: give an image column or a caption/label column")
    return rows


def rows_from_folder(root: str | Path, modalities: Sequence[str],
                     template: str = "a photo of a {}.") -> List[Dict[str, Any]]:
    """Pair files under root/<modality>/<class>/<stem>.* by (class, stem); text from the class."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ValueError(f"pairs folder not found: {root}")
    index: Dict[str, Dict[tuple, Path]] = {}
    for m in modalities:
        d = root / m
        if not d.is_dir():
            raise ValueError(f"{root}: missing sub-folder {m!r}")
        index[m] = {(p.parent.name, p.stem): p for p in sorted(d.glob("*/*")) if p.suffix.lower() in READERS}
    keys = sorted(set.intersection(*(set(v) for v in index.values())))
    if not keys:
        raise ValueError(f"{root}: no <class>/<stem> present in every one of {list(modalities)}")
    classes = sorted({c for c, _ in keys})
    return [{**{m: index[m][k] for m in modalities}, "text": template.format(k[0].replace("_", " ")),
             "label": classes.index(k[0]), "class": k[0].replace("_", " "), "key": f"{k[0]}/{k[1]}"}
            for k in keys]
