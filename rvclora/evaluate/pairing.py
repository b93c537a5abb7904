"""Folder mode: pair reference and converted files by file stem (``a.wav`` pairs ``a.flac``).

Only the top level of each folder is read. Names present on one side only are reported, not fatal; two
files with one stem on the same side are ambiguous and refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rvclora.audio.io import is_audio_file
from rvclora.errors import BadInputError


@dataclass
class Pairing:
    pairs: list[tuple[str, Path, Path]] = field(default_factory=list)  # (stem, reference, converted)
    ref_only: list[str] = field(default_factory=list)
    converted_only: list[str] = field(default_factory=list)


def _by_stem(folder: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise BadInputError(f"{what} folder not found: {folder}", "check the path")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not is_audio_file(path):
            continue
        if path.stem in found:
            raise BadInputError(
                f"two {what} files share the name '{path.stem}': {found[path.stem].name} and {path.name}",
                "keep one file per name; pairs are matched by name without extension",
            )
        found[path.stem] = path
    return found


def pair_folders(ref_dir: Path, conv_dir: Path) -> Pairing:
    """Match the audio files of two folders by stem; raise if nothing pairs up."""
    refs, convs = _by_stem(ref_dir, "reference"), _by_stem(conv_dir, "converted")
    common = sorted(refs.keys() & convs.keys())
    if not common:
        raise BadInputError(
            f"no audio files pair up by name between {ref_dir} ({len(refs)} files) and {conv_dir} ({len(convs)} files)",
            "name each converted file like its reference (a.wav pairs a.flac)",
        )
    return Pairing(
        pairs=[(stem, refs[stem], convs[stem]) for stem in common],
        ref_only=sorted(refs.keys() - convs.keys()),
        converted_only=sorted(convs.keys() - refs.keys()),
    )
