"""`diff` on hand-made archives: whiteouts, opaque directories, hard links, symlinks, devices, mode-only and
owner-only changes, a file moved between layers, every archive format, and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ossr_images.cli import main
from ossr_images.errors import InvalidInputError
from ossr_images.images.image_diff import compare_rootfs
from ossr_images.images.rootfs import instruction_of, read_rootfs
from ossr_images.images.synth import write_docker_archive
from ossr_images.workflows.diff import run_diff

from .archives import E, Image, layer, write

DATA = Path(__file__).resolve().parent.parent / "data"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _paths(path: Path) -> dict[str, tuple]:
    fs = read_rootfs(path)
    return {p: (e.kind, e.mode, e.uid, e.gid, e.size, e.digest, e.link, e.hardlink) for p, e in fs.walk()}


def _diff(tmp_path: Path, a: Image, b: Image, **kw) -> tuple:
    pa = write(tmp_path / "a.tar", a, **kw)
    pb = write(tmp_path / "b.tar", b, **kw)
    return run_diff(pa, pb), pa, pb


def _changes(result) -> list[tuple[str, str]]:
    return sorted((d.path, d.change) for d in result.differences)


# ------------------------------------------------------------------ whiteouts and opaque directories


def test_whiteouts_remove_files_and_whole_directories(tmp_path: Path) -> None:
    a = Image(
        [
            layer(
                [
                    E("a", kind="dir", mode=0o755),
                    E("a/x", b"x"),
                    E("a/y", b"y"),
                    E("b", kind="dir", mode=0o755),
                    E("b/c", b"c"),
                    E("b/d/e", b"e"),
                    E("keep", b"k"),
                ]
            ),
            layer([E("a/.wh.y"), E(".wh.b")]),
        ]
    )
    b = Image([layer([E("a", kind="dir", mode=0o755), E("a/x", b"x"), E("keep", b"k")])])
    result, pa, pb = _diff(tmp_path, a, b)
    assert set(_paths(pa)) == {"/", "/a", "/a/x", "/keep"}
    assert result.verdict == "same-content", _changes(result)
    assert result.counts == {}
    # the whiteout markers themselves are never paths of the root filesystem
    assert not any(".wh." in p for p in _paths(pa))


def test_opaque_directory_hides_only_lower_layers(tmp_path: Path) -> None:
    a = Image(
        [
            layer(
                [E("d", kind="dir", mode=0o755), E("d/old1", b"1"), E("d/sub/deep", b"2"), E("other", b"o")]
            ),
            # the marker may come after the layer's own entries: they stay
            layer([E("d", kind="dir", mode=0o755), E("d/new", b"n"), E("d/.wh..wh..opq")]),
        ]
    )
    assert set(_paths(write(tmp_path / "a.tar", a))) == {"/", "/d", "/d/new", "/other"}
    b = Image([layer([E("d", kind="dir", mode=0o755), E("d/new", b"n"), E("other", b"o")])])
    result, _pa, _pb = _diff(tmp_path, a, b)
    assert result.verdict == "same-content", _changes(result)
    b2 = Image(
        [layer([E("d", kind="dir", mode=0o755), E("d/new", b"n"), E("d/old1", b"1"), E("other", b"o")])]
    )
    result, _pa, _pb = _diff(tmp_path, a, b2)
    assert _changes(result) == [("/d/old1", "added")]


def test_file_replaced_by_directory_and_back(tmp_path: Path) -> None:
    a = Image([layer([E("p", b"file")]), layer([E(".wh.p"), E("p", kind="dir", mode=0o700), E("p/q", b"q")])])
    b = Image([layer([E("p", kind="dir", mode=0o700), E("p/q", b"q")])])
    result, _pa, _pb = _diff(tmp_path, a, b)
    assert result.verdict == "same-content", _changes(result)
    c = Image([layer([E("p", b"file")])])
    result, _pa, _pb = _diff(tmp_path, a, c)
    assert ("/p", "type") in _changes(result) and ("/p/q", "removed") in _changes(result)


# ------------------------------------------------------------------ links and devices


def test_hard_links_share_content_and_compare_by_group_not_tar_order(tmp_path: Path) -> None:
    a = Image([layer([E("bin/f", b"same", mode=0o755), E("bin/g", kind="hardlink", link="bin/f")])])
    b = Image([layer([E("bin/g", b"same", mode=0o755), E("bin/f", kind="hardlink", link="bin/g")])])
    result, pa, _pb = _diff(tmp_path, a, b)
    assert result.verdict == "same-content", _changes(result)
    paths = _paths(pa)
    assert paths["/bin/g"][0] == "file" and paths["/bin/g"][5] == paths["/bin/f"][5]
    assert paths["/bin/g"][1] == 0o755  # one inode: the link has its target's mode
    assert paths["/bin/g"][7] == "/bin/f" and paths["/bin/f"][7] is None
    # two separate copies are not a hard link
    c = Image([layer([E("bin/f", b"same", mode=0o755), E("bin/g", b"same", mode=0o755)])])
    result, _pa, _pc = _diff(tmp_path, a, c)
    assert _changes(result) == [("/bin/g", "link")]
    # a link follows its target's content
    d = Image([layer([E("bin/f", b"other", mode=0o755), E("bin/g", kind="hardlink", link="bin/f")])])
    result, _pa, _pd = _diff(tmp_path, a, d)
    assert _changes(result) == [("/bin/f", "modified"), ("/bin/g", "modified")]


def test_symlinks_targets_and_types(tmp_path: Path) -> None:
    a = Image(
        [
            layer(
                [
                    E("t1", b"1"),
                    E("t2", b"2"),
                    E("l", kind="symlink", link="t1", mode=0o777),
                    E("m", kind="symlink", link="t1"),
                ]
            )
        ]
    )
    b = Image(
        [
            layer(
                [
                    E("t1", b"1"),
                    E("t2", b"2"),
                    E("l", kind="symlink", link="t2", mode=0o777),
                    E("m", b"now a file"),
                ]
            )
        ]
    )
    result, _pa, _pb = _diff(tmp_path, a, b)
    assert _changes(result) == [("/l", "link"), ("/m", "type")]
    link = next(d for d in result.differences if d.change == "link")
    assert (link.a.link, link.b.link) == ("t1", "t2")


def test_devices_and_fifos(tmp_path: Path) -> None:
    a = Image([layer([E("dev/null", kind="char", dev=(1, 3), mode=0o666), E("run/p", kind="fifo")])])
    b = Image([layer([E("dev/null", kind="char", dev=(1, 5), mode=0o666), E("run/p", kind="fifo")])])
    result, _pa, _pb = _diff(tmp_path, a, b)
    assert _changes(result) == [("/dev/null", "modified")]
    assert result.differences[0].a.type == "char-device"


# ------------------------------------------------------------------ metadata-only changes


def test_mode_only_change_exits_3_and_names_the_mode(tmp_path: Path) -> None:
    a = Image([layer([E("app/run.sh", b"#!/bin/sh\n", mode=0o644)])])
    b = Image([layer([E("app/run.sh", b"#!/bin/sh\n", mode=0o755)])])
    result, pa, pb = _diff(tmp_path, a, b)
    assert _changes(result) == [("/app/run.sh", "mode")]
    code, out, _ = _run("diff", str(pa), str(pb))
    assert code == 3
    assert "Verdict: differs" in out and "mode     /app/run.sh  0644 -> 0755" in out
    code, out, _ = _run("diff", str(pa), str(pb), "--json")
    doc = json.loads(out)
    assert code == 3 and doc["verdict"] == "differs" and doc["counts"]["mode"] == 1
    assert doc["ok"] is False and doc["exit_status"] == 3 and doc["error"]["type"] == "IntegrityError"
    assert "1 mode" in doc["error"]["message"]
    (d,) = doc["differences"]
    assert (d["a"]["mode"], d["b"]["mode"]) == ("0644", "0755")


def test_owner_only_change(tmp_path: Path) -> None:
    a = Image([layer([E("home/u/f", b"data", uid=1000, gid=1000)])])
    b = Image([layer([E("home/u/f", b"data", uid=0, gid=1000)])])
    result, _pa, _pb = _diff(tmp_path, a, b)
    assert _changes(result) == [("/home/u/f", "owner")]
    d = result.differences[0]
    assert (d.a.uid, d.b.uid, d.a.gid, d.b.gid) == (1000, 0, 1000, 1000)


def test_mtime_only_is_same_content_and_counted(tmp_path: Path) -> None:
    entries = [E("d", kind="dir", mode=0o755), E("d/f", b"f"), E("d/g", b"g")]
    later = [E(e.name, e.data, e.kind, e.mode, mtime=e.mtime + 60) for e in entries]
    result, pa, pb = _diff(tmp_path, Image([layer(entries)]), Image([layer(later)]))
    assert result.verdict == "same-content"
    assert result.ignored == {"mtime": 3, "layer_boundary": 0}
    code, out, _ = _run("diff", str(pa), str(pb), "--json")
    assert code == 0 and json.loads(out)["ignored"] == {"mtime": 3, "layer_boundary": 0}


def test_file_moved_between_layers_is_not_a_difference(tmp_path: Path) -> None:
    a = Image([layer([E("base", b"b"), E("moved", b"m")]), layer([E("other", b"o")])])
    b = Image([layer([E("base", b"b")]), layer([E("other", b"o"), E("moved", b"m")])])
    result, pa, pb = _diff(tmp_path, a, b)
    assert result.verdict == "same-content"
    assert result.ignored["layer_boundary"] == 1
    code, out, _ = _run("diff", str(pa), str(pb))
    assert code == 0 and "Verdict: same-content" in out and "1 in the layer that wrote them" in out


# ------------------------------------------------------------------ verdicts, layers, instructions


def test_difference_names_the_layer_and_instruction_of_each_side(tmp_path: Path) -> None:
    run_step = "/bin/sh -c echo hi > /etc/motd"
    a = Image(
        [layer([E("etc/os", b"x")]), layer([E("etc/motd", b"hi\n")])],
        instructions=["/bin/sh -c #(nop) ADD file:abc in / ", run_step],
    )
    b = Image(
        [layer([E("etc/os", b"x")]), layer([E("etc/motd", b"ho\n")])],
        instructions=[
            "/bin/sh -c #(nop) ADD file:abc in / ",
            "RUN /bin/sh -c echo ho > /etc/motd # buildkit",
        ],
    )
    result, _pa, _pb = _diff(tmp_path, a, b)
    (d,) = result.differences
    doc = d.to_dict(("archived", "rebuilt"))
    assert doc["change"] == "modified" and doc["path"] == "/etc/motd"
    assert doc["layer"] == {"index": 1, "digest": result.a.layers[1].digest}
    assert doc["instruction"] == "RUN echo hi > /etc/motd"
    assert doc["rebuilt"]["instruction"] == "RUN /bin/sh -c echo ho > /etc/motd"
    assert doc["archived"]["size"] == 3 and doc["rebuilt"]["size"] == 3
    assert doc["archived"]["sha256"] != doc["rebuilt"]["sha256"]
    assert result.a.layers[0].instruction == "ADD file:abc in /"


def test_instruction_of_forms() -> None:
    assert instruction_of("/bin/sh -c #(nop) COPY file:1a2b in /app ") == "COPY file:1a2b in /app"
    assert instruction_of("/bin/sh -c apt-get update") == "RUN apt-get update"
    assert instruction_of("COPY app /app # buildkit") == "COPY app /app"


def test_identical_by_config_and_by_layers(tmp_path: Path) -> None:
    img = Image([layer([E("f", b"1")]), layer([E("g", b"2")])])
    pa = write(tmp_path / "a.tar", img)
    code, out, _ = _run("diff", str(pa), str(pa), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"] == "identical" and doc["reason"] == "same image config digest"
    other = Image(img.layers, created="2027-01-01T00:00:00Z")  # same layers, another config
    pb = write(tmp_path / "b.tar", other)
    result = run_diff(pa, pb)
    assert result.verdict == "identical" and result.reason == "same layer digests"


def test_synth_archives(tmp_path: Path) -> None:
    a = write_docker_archive(tmp_path / "a.tar", labels={}, tag="s:1", files={"x": b"1", "y/z": b"2"})
    b = write_docker_archive(
        tmp_path / "b.tar.zst",
        labels={},
        tag="s:1",
        files={"x": b"1", "y/z": b"3", "n": b""},
        compression="zstd",
    )
    result = run_diff(a.path, b.path)
    assert result.verdict == "differs"
    assert _changes(result) == [("/n", "added"), ("/y/z", "modified")]
    mod = next(d for d in result.differences if d.change == "modified")
    assert mod.a.layer.instruction == "ossr-images synth: COPY files /"


# ------------------------------------------------------------------ formats


@pytest.mark.parametrize(
    "fmt,compression,layer_compression",
    [
        ("legacy", "none", "none"),
        ("legacy", "gzip", "none"),
        ("docker25", "zstd", "none"),
        ("oci", "none", "gzip"),
        ("oci", "zstd", "zstd"),
        ("oci", "gzip", "none"),
    ],
)
def test_every_format_reads_the_same_tree(
    tmp_path: Path, fmt: str, compression: str, layer_compression: str
) -> None:
    img = Image(
        [
            layer(
                [
                    E("usr/bin/tool", b"T" * 5000, mode=0o755),
                    E("usr/bin/alias", kind="hardlink", link="usr/bin/tool"),
                    E("etc/x", b"x"),
                    E("etc/l", kind="symlink", link="x"),
                ]
            ),
            layer([E("etc/.wh.x"), E("etc/y", b"y", uid=7)]),
        ]
    )
    reference = write(tmp_path / "ref.tar", img)
    path = write(
        tmp_path / f"img-{fmt}", img, fmt=fmt, compression=compression, layer_compression=layer_compression
    )
    assert _paths(path) == _paths(reference)
    assert set(_paths(path)) == {
        "/",
        "/usr",
        "/usr/bin",
        "/usr/bin/tool",
        "/usr/bin/alias",
        "/etc",
        "/etc/l",
        "/etc/y",
    }
    changed = Image([img.layers[0], layer([E("etc/.wh.x"), E("etc/y", b"y", uid=8)])])
    other = write(
        tmp_path / f"other-{fmt}",
        changed,
        fmt=fmt,
        compression=compression,
        layer_compression=layer_compression,
    )
    result = compare_rootfs(read_rootfs(reference), read_rootfs(other))
    assert _changes(result) == [("/etc/y", "owner")]
    assert result.b.format == ("oci-archive" if fmt == "oci" else "docker-archive")


# ------------------------------------------------------------------ bad input


def test_bad_inputs_exit_1_naming_the_file(tmp_path: Path) -> None:
    good = write(tmp_path / "good.tar", Image([layer([E("f", b"1")])]))
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n" * 100)
    code, _out, err = _run("diff", str(good), str(tmp_path / "missing.tar"))
    assert code == 1 and "missing.tar" in err and "does not exist" in err
    code, _out, err = _run("diff", str(text), str(good))
    assert code == 1 and "notes.txt" in err
    code, _out, err = _run("diff", str(good), str(DATA / "hello.sif"))
    assert code == 1 and "SIF" in err
    truncated = tmp_path / "cut.tar"
    truncated.write_bytes(good.read_bytes()[:3000])
    code, _out, err = _run("diff", str(good), str(truncated))
    assert code == 1 and "cut.tar" in err
    code, out, _err = _run("diff", str(good), str(truncated), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False and doc["exit_status"] == 1
    assert doc["error"]["type"] == "InvalidInputError" and "cut.tar" in doc["error"]["message"]


def test_layer_that_is_not_a_tar_is_named(tmp_path: Path) -> None:
    bad = Image([layer([E("f", b"1")]), os.urandom(4096)])
    path = write(tmp_path / "bad.tar", bad, fmt="docker25")
    with pytest.raises(InvalidInputError) as info:
        read_rootfs(path)
    assert "layer 1" in info.value.message and "bad.tar" in info.value.message


def test_layer_entry_outside_the_root_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "evil.tar", Image([layer([E("../../etc/passwd", b"x")])]))
    with pytest.raises(InvalidInputError) as info:
        read_rootfs(path)
    assert "outside the root" in info.value.message


# ------------------------------------------------------------------ tar details


def test_long_names_and_big_numbers_in_pax_and_gnu_tars(tmp_path: Path) -> None:
    import tarfile

    deep = "/".join(f"directory-level-{i:02d}" for i in range(8)) + "/file-with-a-long-name-é.txt"
    entries = [
        E(deep, b"deep"),
        E("l", kind="symlink", link="/" + deep),
        E("big-owner", b"x", uid=3_000_000, gid=4_000_000),
    ]
    pax = write(tmp_path / "pax.tar", Image([layer(entries, tarfile.PAX_FORMAT)]))
    gnu = write(tmp_path / "gnu.tar", Image([layer(entries, tarfile.GNU_FORMAT)]))
    paths = _paths(pax)
    assert paths["/" + deep][4] == 4 and paths["/l"][6] == "/" + deep
    assert paths["/big-owner"][2:4] == (3_000_000, 4_000_000)
    assert _paths(gnu) == paths
    assert run_diff(pax, gnu).verdict == "same-content"


def test_hard_link_to_a_lower_layer_and_a_layer_used_twice(tmp_path: Path) -> None:
    base = layer([E("f", b"content", mode=0o700)])
    a = Image([base, layer([E("g", kind="hardlink", link="f")])])
    b = Image([layer([E("f", b"content", mode=0o700), E("g", kind="hardlink", link="f")])])
    result, pa, _pb = _diff(tmp_path, a, b, fmt="docker25")
    assert result.verdict == "same-content", _changes(result)
    assert _paths(pa)["/g"][1] == 0o700 and result.ignored["layer_boundary"] == 1
    # the same layer blob twice (a file whited out, then put back): both uses apply
    twice = Image([base, layer([E(".wh.f")]), base])
    path = write(tmp_path / "twice.tar", twice, fmt="docker25")
    fs = read_rootfs(path)
    assert [x.member for x in fs.layers][0] == fs.layers[2].member
    assert dict(fs.walk())["/f"].layer == 2


def test_corrupt_layer_header_is_named(tmp_path: Path) -> None:
    good = layer([E("a", b"1"), E("b", b"2")])
    offset = good.index(b"b\x00")  # the ustar header named "b"
    data = bytearray(good)
    data[offset + 100] ^= 0x01  # its mode field: the checksum no longer matches
    path = write(tmp_path / "corrupt.tar", Image([bytes(data)]), fmt="docker25")
    with pytest.raises(InvalidInputError) as info:
        read_rootfs(path)
    assert "layer 0" in info.value.message and "checksum" in info.value.message
