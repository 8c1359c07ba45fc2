"""The engine's state on disk, so that a server starts in seconds instead of recomputing.

A full restore at 1M users reads the whole store and solves the diffusion again (tens
of seconds and a few GiB per process). The **image** is that restored state written as
plain ``.npy`` arrays plus a manifest; the next start memory-maps them copy-on-write,
so the pages are read lazily, shared by every worker process on the machine through
the page cache, and copied only where a change writes.

An image is used only when it is exactly current: its key names the store (its random
token), the store's data version (:meth:`~credence.graph.store.GraphStore.data_version`,
which every committed data change moves), the model version and a digest of the policy
and factor constants. Anything else (a missing, partial, stale or corrupt image) makes
:func:`read_image` return None with the reason logged, and the engine restores from the
store as before. Images are written atomically: each into a fresh directory (0700,
files 0600: they hold everyone's scores), then published by replacing the ``current``
symlink, so a reader sees a whole image or none.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from credence.engine import ScoringEngine
>>> from credence.graph.sqlite import SQLiteStore
>>> from credence.seeds.synthetic import generate_population
>>> population = generate_population(n_users=600, seed=2)
>>> store = SQLiteStore(":memory:")
>>> _ = store.load(population.dataset())
>>> directory = Path(tempfile.mkdtemp()) / "image"
>>> engine = ScoringEngine(store, now=population.now, image=directory)
>>> _ = engine.recompute()
>>> engine.save_image() is not None  # memory is exactly the store's current data
True
>>> again = ScoringEngine(store, image=directory)
>>> again.restore(from_image=True).seconds.keys()  # mapped, not recomputed
dict_keys(['image'])
>>> again.scores()["score"].tolist() == engine.scores()["score"].tolist()
True
>>> _ = store.set_consent(str(population.users["id"][0]), False)  # the data moved on
>>> sorted(ScoringEngine(store, image=directory).restore(from_image=True).seconds)  # so: a full restore
['diffusion', 'export', 'factors', 'scores', 'write']
>>> store.close()
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from credence.engine.state import EngineState, Suspended
from credence.graph.config import SQLiteConfig, StoreConfig
from credence.graph.store import DataVersion
from credence.scoring.factors import CapacityReference, UserArrays
from credence.scoring.push import DiffusionState
from credence.scoring.ratings import RatingEvidence

__all__ = ["IMAGE_FORMAT", "ImageKey", "current_image", "default_image_dir", "read_image", "write_image"]

log = logging.getLogger("credence.engine.image")

#: Bumped whenever the layout below changes: an image of another format is not read.
IMAGE_FORMAT = 1
_CURRENT = "current"
_MANIFEST = "manifest.json"


@dataclass(frozen=True, kw_only=True)
class ImageKey:
    """What an image must match to be used: the store's data version, the model and its digest.

    Attributes
    ----------
    version : DataVersion
        The store (its token) and its data version the state is exactly of.
    model : str
        The policy's model version.
    digest : str
        A digest of the policy and the factor constants (a changed weight under the same
        version must not reuse the image).
    """

    version: DataVersion
    model: str
    digest: str

    def as_dict(self) -> dict[str, Any]:
        """The key as JSON-ready values (as the manifest stores it)."""
        return {"format": IMAGE_FORMAT, "store": self.version.store, "version": self.version.version,
                "model": self.model, "digest": self.digest}  # fmt: skip


def default_image_dir(config: StoreConfig) -> Path | None:
    """Where a store's image lives by default: beside a SQLite file (``FILE.image``); none for Neo4j or memory.

    Examples
    --------
    >>> default_image_dir(SQLiteConfig(path=Path("data/credence.db")))
    PosixPath('data/credence.db.image')
    >>> default_image_dir(SQLiteConfig(path=Path(":memory:"))) is None
    True
    """
    if isinstance(config, SQLiteConfig) and str(config.path) != ":memory:":
        return config.path.with_name(config.path.name + ".image")
    return None


def _fields(arrays: Any) -> dict[str, npt.NDArray[Any]]:
    """The array fields of a dataclass of arrays (UserArrays, CapacityReference, RatingEvidence), by name."""
    return {f.name: getattr(arrays, f.name) for f in dataclasses.fields(arrays)}


def _groups(state: EngineState) -> dict[str, dict[str, npt.NDArray[Any]]]:
    """The state's arrays by group (a file each: ``GROUP.NAME.npy``)."""
    groups: dict[str, dict[str, npt.NDArray[Any]]] = {
        "state": {
            "consent": state.consent, "quarantined": state.quarantined, "sub_values": state.sub_values,
            "components": state.components, "base": state.base, "scores": state.scores, "written": state.written,
        },
        "users": _fields(state.users),
        "reference": _fields(state.reference),
        "diffusion": state.diffusion.arrays(),
    }  # fmt: skip
    if state.ratings is not None:
        groups["ratings"] = _fields(state.ratings)
    return groups


def _write_private(path: Path, write: Any) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())


def write_image(state: EngineState, directory: Path, key: ImageKey) -> Path:
    """Write ``state`` as the image of ``key`` under ``directory`` and make it the current one.

    Parameters
    ----------
    state : EngineState
        A state that is exactly the store at ``key.version`` (the engine decides:
        :meth:`~credence.engine.ScoringEngine.save_image`).
    directory : Path
        The image directory (created 0700 if missing).
    key : ImageKey
        What a reader must match.

    Returns
    -------
    Path
        The new image's own directory (``current`` points to it).
    """
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"image-{key.version.version}-{secrets.token_hex(4)}"
    target = directory / name
    target.mkdir(mode=0o700)
    try:
        arrays: dict[str, Any] = {}
        for group, members in _groups(state).items():
            for field_name, array in members.items():
                file_name = f"{group}.{field_name}.npy"
                plain = np.ascontiguousarray(array)
                _write_private(
                    target / file_name, lambda handle, a=plain: np.save(handle, a, allow_pickle=False)
                )
                arrays[f"{group}.{field_name}"] = {"dtype": plain.dtype.str, "shape": list(plain.shape)}
        names = [str(user) for user in state.ids.tolist()]
        # One id per line reads back fastest; an id with a line break in it (valid, if odd) needs JSON.
        plain_ids = not any("\n" in user for user in names)
        ids = ("\n".join(names) if plain_ids else json.dumps(names, ensure_ascii=False)).encode()
        _write_private(target / ("ids.txt" if plain_ids else "ids.json"), lambda handle: handle.write(ids))
        manifest = {
            **key.as_dict(),
            "written_at": int(time.time()),
            "computed_at": int(state.computed_at),
            "users": int(state.ids.size),
            "diffusion": state.diffusion.parameters(),
            "ratings": state.ratings is not None,
            "ids": "lines" if plain_ids else "json",
            "suspended": {
                "repayments": sorted(state.suspended.repayments),
                "spending": sorted(state.suspended.spending),
                "links": sorted([list(pair) for pair in state.suspended.links]),
            },
            "arrays": arrays,
        }
        text = json.dumps(manifest, indent=1).encode()
        _write_private(target / _MANIFEST, lambda handle: handle.write(text))
        link = directory / f".{name}.link"
        os.symlink(name, link)
        os.replace(link, directory / _CURRENT)  # the publication: atomic
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    for old in directory.glob("image-*"):
        if old.name != name:
            # A reader still mapping an old image keeps its pages: unlinked files stay readable.
            shutil.rmtree(old, ignore_errors=True)
    return target


def _load(path: Path, spec: dict[str, Any]) -> npt.NDArray[Any]:
    dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
    # Copy-on-write maps: pages are shared with every process mapping the file until written.
    array = np.load(path, mmap_mode="c" if int(np.prod(shape)) > 0 else None, allow_pickle=False)
    if array.dtype != dtype or array.shape != shape:
        raise ValueError(f"{path.name}: {array.dtype}{array.shape}, the manifest says {dtype}{shape}")
    return np.asarray(array)


def current_image(directory: Path) -> Path | None:
    """The directory of the image ``current`` points to under ``directory`` (None without one)."""
    try:
        return Path(directory) / os.readlink(Path(directory) / _CURRENT)
    except OSError:
        return None


def read_image(directory: Path, key: ImageKey) -> EngineState | None:
    """The state of the current image under ``directory`` if it matches ``key``; None (reason logged) if not.

    Never raises for a missing, stale, partial or corrupt image: the caller restores
    from the store instead.
    """
    target = current_image(directory)
    if target is None:
        log.info("no engine image at %s", directory)
        return None
    try:
        manifest = json.loads((target / _MANIFEST).read_text())
        found = {k: manifest.get(k) for k in key.as_dict()}
        if found != key.as_dict():
            log.info("the engine image at %s is not current (%s, wanted %s)", directory, found, key.as_dict())
            return None
        specs = manifest["arrays"]
        groups: dict[str, dict[str, npt.NDArray[Any]]] = {}
        for qualified, spec in specs.items():
            group, field_name = qualified.split(".", 1)
            groups.setdefault(group, {})[field_name] = _load(target / f"{qualified}.npy", spec)
        if manifest["ids"] == "lines":
            text = (target / "ids.txt").read_text(encoding="utf-8")
            names = text.split("\n") if text else []
        else:
            names = json.loads((target / "ids.json").read_text(encoding="utf-8"))
        ids = np.empty(len(names), dtype=object)
        ids[:] = names
        if ids.size != int(manifest["users"]):
            raise ValueError(f"the id file holds {ids.size} ids, the manifest says {manifest['users']}")
        main = groups["state"]
        suspended = manifest["suspended"]
        state = EngineState(
            ids=ids,
            positions=dict(zip(names, range(len(names)), strict=True)),
            users=UserArrays(**groups["users"]),
            consent=main["consent"],
            quarantined=main["quarantined"],
            sub_values=main["sub_values"],
            components=main["components"],
            base=main["base"],
            scores=main["scores"],
            diffusion=DiffusionState.from_arrays(groups["diffusion"], manifest["diffusion"]),
            reference=CapacityReference(**groups["reference"]),
            computed_at=int(manifest["computed_at"]),
            written=main["written"],
            ratings=RatingEvidence(**groups["ratings"]) if manifest["ratings"] else None,
            suspended=Suspended(
                repayments=set(suspended["repayments"]),
                spending=set(suspended["spending"]),
                links={(str(a), str(b)) for a, b in suspended["links"]},
            ),
        )
        lengths = {name: int(np.shape(array)[0]) for name, array in main.items()}
        if set(lengths.values()) != {ids.size} or state.diffusion.n != ids.size:
            raise ValueError(
                f"arrays of unequal length: {lengths}, diffusion {state.diffusion.n}, ids {ids.size}"
            )
    except Exception as exc:  # OSError, bad JSON, a missing key, a class's own checks (ParameterError)
        log.warning("the engine image at %s cannot be used (%s): restoring from the store", directory, exc)
        return None
    return state
