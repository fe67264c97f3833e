"""Hostile YAML: alias bombs, tags, invalid UTF-8. Every YAML file the harness reads refuses them with
exit 4 and the file, line and column, before anything is expanded or constructed."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.errors import InputError
from harness.incidents import append_event
from harness.io import yaml as located_yaml
from harness.io.yaml import load_yaml, parse_yaml


def alias_bomb(levels: int) -> str:
    """A few hundred bytes that expand to 9**levels strings: "a billion laughs"."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijk"
    for level in range(1, levels):
        lines.append(f"{names[level]}: &{names[level]} [" + ",".join([f"*{names[level - 1]}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# where each kind of file lives in a repository, relative to its root
PLACES = {"policy": "policies/bomb.yaml", "eval suite": "evals/bomb.yaml", "playbook": "policies/playbook.yaml",
          "waivers": "policies/waivers.yaml"}


def validate(repo, capsys) -> tuple[int, str]:
    code = main(["validate", "--policies", "policies", "--evals", "evals"])
    return code, capsys.readouterr().err


@pytest.mark.timeout(60)  # a regression would expand for minutes: fail it well before the suite's limit
@pytest.mark.parametrize("place", list(PLACES.values()), ids=list(PLACES))
def test_an_alias_bomb_is_refused_at_its_first_anchor(repo, capsys, monkeypatch, place):
    """Nine levels took 7 minutes and 24 GB; now the first anchor ends the file."""
    monkeypatch.chdir(repo.root)
    (repo.root / place).write_text(alias_bomb(9))
    assert len(alias_bomb(9)) < 400
    code, err = validate(repo, capsys)
    assert code == 4
    assert f"{place}:1:4: YAML anchor &a is not accepted" in err


@pytest.mark.timeout(60)
def test_the_gate_refuses_an_alias_bomb_with_exit_4_and_judges_nothing(workdir, capsys):
    Path("policies/privacy/bomb.yaml").write_text(alias_bomb(9))
    code = main(["gate", "--outputs", "examples/outputs/acme-support-1.1.0.jsonl"])
    captured = capsys.readouterr()
    assert code == 4
    assert "policies/privacy/bomb.yaml:1:4: YAML anchor &a is not accepted" in captured.err
    assert "promote" not in captured.out


def test_an_alias_bomb_in_an_incident_record_is_refused(tmp_path):
    record = tmp_path / "INC-2026-0009.yaml"
    record.write_text("id: INC-2026-0009\n" + alias_bomb(9))
    with pytest.raises(InputError) as info:
        append_event(tmp_path, "INC-2026-0009", {"kind": "rollback", "summary": "x"})
    assert str(info.value).startswith(f"{record}:2:4: YAML anchor &a is not accepted")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("id: &name x\n", "1:5: YAML anchor &name is not accepted", id="anchor-never-used"),
    pytest.param("id: *name\n", "1:5: YAML alias *name is not accepted", id="alias-without-anchor"),
    pytest.param("rules: &r [1]\nmore: *r\n", "1:8: YAML anchor &r is not accepted", id="anchor-then-alias"),
    pytest.param("a: {<<: &base {x: 1}}\n", "1:9: YAML anchor &base is not accepted", id="merge-of-an-anchor"),
])
def test_anchors_and_aliases_are_refused(text, expected):
    with pytest.raises(InputError) as info:
        parse_yaml(text, "p.yaml")
    assert str(info.value).startswith(f"p.yaml:{expected}")


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("id: !!python/name:os.system x\n", "1:5: YAML tag !!python/name:os.system", id="python-name"),
    pytest.param("id: !!python/object/apply:os.system ['true']\n", "1:5: YAML tag !!python/object/apply:os.system",
                 id="python-apply-on-a-sequence"),
    pytest.param("id: !custom x\n", "1:5: YAML tag !custom", id="custom-on-a-scalar"),
    pytest.param("applies_to: !!map {tags: [x]}\n", "1:13: YAML tag !!map", id="on-a-mapping"),
    pytest.param("rules: !seq\n  - {id: r, check: pii}\n", "1:8: YAML tag !seq", id="on-a-sequence"),
    pytest.param("version: !!str 1.0.0\n", "1:10: YAML tag !!str", id="core-schema-tag"),
    pytest.param("title: ! x\n", "1:8: YAML tag !", id="non-specific"),
    pytest.param("? !!python/tuple [a, b]\n: 1\n", "1:3: YAML tag !!python/tuple", id="on-a-key"),
])
def test_every_explicit_tag_is_refused_with_its_place(text, expected):
    with pytest.raises(InputError) as info:
        parse_yaml(text, "p.yaml")
    assert str(info.value).startswith(f"p.yaml:{expected} is not accepted; expected a plain value")


def test_an_unknown_tag_in_a_policy_is_exit_4_naming_the_file_not_exit_5(repo, capsys, monkeypatch, policy_text):
    """It was exit 5 with "<unicode string>" instead of the file."""
    monkeypatch.chdir(repo.root)
    repo.policy("p.yaml", policy_text("- {id: r, check: pii}\n").replace("title: Test policy",
                                                                       "title: !!python/name:os.system x"))
    code, err = validate(repo, capsys)
    assert code == 4
    assert "policies/p.yaml:3:8: YAML tag !!python/name:os.system is not accepted" in err
    assert "<unicode string>" not in err and "internal error" not in err


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("? [a, b]\n: 1\n", "1:3: a mapping or list used as a key is not accepted", id="complex-key"),
    pytest.param("a: 1\n---\nb: 2\n", "2:1: a second YAML document (---) in one file", id="two-documents"),
])
def test_structures_plain_data_never_needs_are_refused(text, expected):
    with pytest.raises(InputError) as info:
        parse_yaml(text, "p.yaml")
    assert str(info.value).startswith(f"p.yaml:{expected}")


def test_plain_values_still_read_as_before():
    document = parse_yaml("a: 1\nb: 1.5\nc: true\nd: null\ne: 2026-01-31\nf: '1'\ng: =\nh: [x, {i: ~}]\n"
                          "a: 2\n", "p.yaml")
    assert document.data == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "2026-01-31", "f": "1", "g": "=",
                             "h": ["x", {"i": None}]}
    assert document.locate(("h", 1, "i")).line == 8
    assert [str(p) for p in document.problems] == ["p.yaml:9:1: $.a: duplicate key 'a' (first defined at line 1)"]


@pytest.mark.parametrize("place", list(PLACES.values()), ids=list(PLACES))
def test_invalid_utf8_is_named_with_its_byte_offset(repo, capsys, monkeypatch, place):
    monkeypatch.chdir(repo.root)
    (repo.root / place).write_bytes(b"# caf\xe9\nid: x\n")
    code, err = validate(repo, capsys)
    assert code == 4
    assert f"{place}: not valid UTF-8 at byte 5; expected UTF-8 text" in err


def test_invalid_utf8_in_an_incident_record_is_an_input_error(tmp_path):
    (tmp_path / "INC-2026-0009.yaml").write_bytes(b"id: INC-2026-0009\ntitle: \xff\n")
    with pytest.raises(InputError, match="not valid UTF-8 at byte 25"):
        append_event(tmp_path, "INC-2026-0009", {"kind": "rollback", "summary": "x"})


def test_a_policy_file_name_that_is_not_utf8_is_exit_4_not_surrogates_not_allowed(workdir, capsys):
    """The gate crashed (exit 5) writing the report: "surrogates not allowed"."""
    name = os.fsdecode(b"policies/quality/lat\xffency.yaml")
    Path(name).write_text(Path("policies/quality/latency.yaml").read_text().replace("quality.latency", "q.other"))
    code = main(["gate", "--outputs", "examples/outputs/acme-support-1.1.0.jsonl", "--format", "json"])
    err = capsys.readouterr().err
    assert code == 4
    assert "the file name is not valid UTF-8 at byte 20" in err and "surrogates" not in err


@pytest.mark.parametrize("loader", [
    pytest.param("CSafeLoader", marks=pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")),
    "SafeLoader",
])
def test_a_lone_surrogate_escape_is_refused_by_either_parser(monkeypatch, loader):
    monkeypatch.setattr(located_yaml, "_Loader", getattr(yaml, loader))
    with pytest.raises(InputError) as info:
        parse_yaml('title: "caf\\ud800"\n', "p.yaml")
    expected = {"CSafeLoader": "p.yaml:1:14: invalid YAML",  # the C parser refuses the escape itself
                "SafeLoader": "p.yaml:1:8: an escape names a lone surrogate"}[loader]  # the builder does
    assert str(info.value).startswith(expected)


def test_load_yaml_reads_a_valid_file_and_hashes_its_bytes(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("id: café\n", encoding="utf-8")
    document = load_yaml(path, "ok.yaml")
    assert document.data == {"id": "café"} and len(document.sha256) == 64


@pytest.mark.parametrize("loader", ["default", "pure-python"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f"])
def test_a_control_character_is_named_with_its_line_and_column(monkeypatch, loader, char):
    """A NUL said only `"<unicode string>", position 6`, with no file line or column."""
    if loader == "pure-python":
        monkeypatch.setattr(located_yaml, "_Loader", yaml.SafeLoader)
    with pytest.raises(InputError) as info:
        parse_yaml(f"id: x\nname: a{char}b\n", "p.yaml")
    message = str(info.value)
    assert message.startswith(f"p.yaml:2:8: invalid YAML: the character U+{ord(char):04X} is not allowed")
    assert "<unicode string>" not in message and "position" not in message


def test_a_byte_order_mark_and_a_yaml_directive_are_read_as_yaml_allows(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf%YAML 1.1\n---\nid: x\n")
    assert load_yaml(path, "bom.yaml").data == {"id": "x"}
    path.write_bytes(b"%YAML 2.0\n---\nid: x\n")
    with pytest.raises(InputError, match=r"^bom.yaml:1:1: invalid YAML: found incompatible YAML document"):
        load_yaml(path, "bom.yaml")


@pytest.mark.parametrize(("text", "value"), [
    ("1:30", "1:30"),  # YAML 1.1 read this as 90 (base 60): a timeout_s of 1:30 was 90 seconds
    ("0755", 755),  # 1.1: octal 493
    ("no", "no"), ("off", "off"), ("yes", "yes"), ("on", "on"),  # 1.1: booleans (the "Norway problem")
    ("1_000", "1_000"), ("0b101", "0b101"),
    ("true", True), ("False", False), ("~", None), ("null", None), ("", None),
    ("42", 42), ("-7", -7), ("0x1F", 31), ("0o17", 15), ("2.5", 2.5), ("1e3", 1000.0), (".inf", math.inf),
    ("-.inf", -math.inf), ("2026-12-03", "2026-12-03"), ("'yes'", "yes"), ('"5"', "5"),
])
def test_plain_values_are_read_by_yaml_1_2s_core_schema(text, value):
    assert parse_yaml(f"x: {text}\n", "p.yaml").data == {"x": value}


def test_a_number_past_pythons_digit_limit_is_an_input_error_not_a_crash():
    """5,000 digits raised ValueError out of the loader: exit 5."""
    with pytest.raises(InputError, match=r"^p.yaml:1:4: a number of 5000 digits; expected at most 4300"):
        parse_yaml("x: " + "1" * 5000 + "\n", "p.yaml")


@pytest.mark.timeout(60)  # a FIFO blocked the read for ever, /dev/zero grew memory until the kernel killed it
@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("place", ["policies/playbook.yaml", "policies/waivers.yaml"])
def test_a_fifo_or_a_device_as_the_playbook_or_the_waivers_is_refused_at_once(repo, capsys, monkeypatch, kind, place):
    monkeypatch.chdir(repo.root)
    if kind == "fifo":
        os.mkfifo(place)
    else:
        os.symlink("/dev/zero", place)
    code, err = validate(repo, capsys)
    assert code == 4
    assert f"{place}: not a regular file (a FIFO, a device or a directory); expected a YAML file" in err


def test_a_yaml_file_past_the_size_limit_is_refused_without_reading_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(located_yaml, "MAX_YAML_BYTES", 64)
    path = tmp_path / "big.yaml"
    path.write_text("description: " + "x" * 100 + "\n")
    with pytest.raises(InputError, match=r"^big.yaml: larger than 64 bytes; expected a smaller file"):
        load_yaml(path, "big.yaml")
    path.write_text("description: " + "x" * 40 + "\n")
    assert load_yaml(path, "big.yaml").data == {"description": "x" * 40}


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e999"])
def test_a_non_finite_number_in_any_yaml_file_is_an_error_at_its_place(value):
    """`timeout_s: .nan` in the playbook passed validate; the SMTP notifier then raised ValueError."""
    document = parse_yaml(f"release:\n  health_check:\n    timeout_s: {value}\n", "playbook.yaml")
    assert [str(p) for p in document.problems] == [
        f"playbook.yaml:3:16: $.release.health_check.timeout_s: expected a finite number, got {value}"]


def test_validate_names_a_non_finite_playbook_timeout_once(workdir, capsys):
    path = Path("policies/playbook.yaml")
    text = path.read_text(encoding="utf-8")
    assert "timeout_s: 30" in text
    path.write_text(text.replace("timeout_s: 30", "timeout_s: .nan", 1), encoding="utf-8")
    assert main(["validate"]) == 4
    err = capsys.readouterr().err
    assert err.count("expected a finite number, got .nan") == 1
