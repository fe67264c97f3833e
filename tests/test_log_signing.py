"""Signed decision-log entries: the release key, the forger who rewrites `.head`, downgrades, rotation, bad keys.

Every test works on a copy of the shipped repository (``workdir``) made a git work tree, with the private
keys in a folder outside it; the log is appended to through the gate, `registry alias` and the library's
``DecisionLog`` (the one place every recorder appends through), and checked with `harness log verify`.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from harness.api.release import DecisionLog, verify_decision_log, verify_decision_log_signatures
from harness.cli import main
from harness.clock import FixedClock
from harness.errors import InputError
from harness.release import decision_log, signing

MODEL = "acme-support-assistant"
LOG = Path("audit/decisions.jsonl")
PUB = Path("policies/release-key.pub")
CLOCK = FixedClock("2026-11-27T10:00:00Z")


@pytest.fixture
def repo(workdir: Path) -> Path:
    """The shipped repository as a git work tree (no commit needed to know its top)."""
    subprocess.run(["git", "init", "-q", str(workdir)], check=True)
    return workdir


@pytest.fixture
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the repository, as a CI runner's secret files are."""
    return tmp_path_factory.mktemp("secrets")


def keygen(private: Path, *extra: str) -> int:
    return main(["log", "keygen", "--private", str(private), *extra])


def release_key(secrets: Path, name: str = "release.pem") -> tuple[Path, str]:
    """A new release key: its private file, and its fingerprint (the public half goes to policies/)."""
    private = secrets / name
    assert keygen(private) == 0
    return private, signing.fingerprint(signing.parse_public_key(PUB.read_bytes(), PUB))


def other_key_pem() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def append(n: int, environ: dict[str, str] | None) -> list[dict[str, Any]]:
    """``n`` entries through the library's DecisionLog; ``environ`` None: the process environment."""
    log = DecisionLog(LOG, actor="ci-bot", policies_dir=Path("policies"), clock=CLOCK, environ=environ)
    return [log({"kind": "gate", "model": MODEL, "model_version": f"1.{i}.0", "verdict": "block"})
            for i in range(n)]


def lines() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LOG.read_text().splitlines()]


def rewrite(entries: list[dict[str, Any]]) -> None:
    """Write the log as the forger does: canonical lines, and `.head` pointing at the last one."""
    LOG.write_text("".join(decision_log.canonical(e) + "\n" for e in entries))
    decision_log.head_path(LOG).write_text(json.dumps({"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]}))


def forge_append(sign_with: ed25519.Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """The attack of the issue: append an entry with a recomputed hash and rewrite `.head`."""
    entries = lines()
    last = entries[-1]
    forged: dict[str, Any] = {"kind": "promotion", "model": MODEL, "model_version": "6.6.6", "verdict": "promote",
                              "actor": "release-manager@example.com", "time": "2026-11-27T11:00:00Z",
                              "seq": last["seq"] + 1, "prev": decision_log.sha256_line(last)}
    forged["hash"] = decision_log.entry_hash(forged)
    if sign_with is not None:
        fp = signing.fingerprint(sign_with.public_key())
        forged["sig"] = {"alg": "ed25519", "key": fp, "value": base64.b64encode(
            sign_with.sign(signing.signed_message(forged["hash"]))).decode()}
    rewrite([*entries, forged])
    return forged


def verify(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["log", "verify", "--chain-only", *extra])
    out, err = capsys.readouterr()
    return code, out, err


# -- keys -----------------------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_reads_and_a_public_key_to_commit(repo, secrets, capsys):
    private = secrets / "release.pem"
    assert keygen(private) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert PUB.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    key = signing.parse_private_key(private.read_bytes(), "test")
    fp = signing.fingerprint(key.public_key())
    assert f"wrote the release key sha256:{fp}:" in out
    assert signing.fingerprint(signing.parse_public_key(PUB.read_bytes(), PUB)) == fp
    before = private.read_bytes(), PUB.read_bytes()
    assert keygen(private) == 4  # never overwritten
    assert "already exists; refusing to overwrite it" in capsys.readouterr().err
    assert keygen(secrets / "new.pem") == 4  # the public key exists: a rotation retires it first
    err = capsys.readouterr().err
    assert "policies/release-key.pub already exists" in err and "retired-release-keys" in err
    assert not (secrets / "new.pem").exists()
    assert (private.read_bytes(), PUB.read_bytes()) == before


def test_keygen_refuses_a_private_key_inside_the_repository(repo, capsys):
    assert keygen(Path("keys.pem"), "--public", str(Path("elsewhere.pub").resolve())) == 4
    err = capsys.readouterr().err
    assert "--private: the private key keys.pem is inside the policy repository" in err
    assert not Path("keys.pem").exists() and not Path("elsewhere.pub").exists()


def test_the_gate_signs_with_the_key_in_the_environment_variable(repo, secrets, monkeypatch, capsys):
    private, fp = release_key(secrets)
    monkeypatch.setenv("HARNESS_SIGNING_KEY", private.read_text())
    assert main(["gate", "--outputs", "examples/outputs/acme-support-1.0.0.jsonl", "--baseline",
                 "examples/outputs/acme-support-1.0.0.jsonl", "--model", MODEL, "--model-version", "1.0.0",
                 "--today", "2026-11-27", "--backdate", "--promote"]) == 0
    entries = lines()
    assert [e["kind"] for e in entries] == ["gate", "alias_move", "alias_move", "promotion"]
    assert all(e["sig"]["key"] == fp and e["sig"]["alg"] == "ed25519" for e in entries)
    capsys.readouterr()
    assert main(["log", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"signatures: intact and signed by the release key (sha256:{fp}): 4 entries" in out
    assert "1 alias move(s)" in out  # the registry cross-check still runs


def test_registry_alias_signs_with_the_key_file_and_the_seed_form_works_too(repo, secrets, monkeypatch, capsys):
    private, fp = release_key(secrets)
    monkeypatch.setenv("HARNESS_SIGNING_KEY_FILE", str(private))
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create", "--reason", "hotfix"]) == 0
    monkeypatch.delenv("HARNESS_SIGNING_KEY_FILE")
    seed = signing.parse_private_key(private.read_bytes(), "test").private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    monkeypatch.setenv("HARNESS_SIGNING_KEY", base64.b64encode(seed).decode())
    append(1, environ=None)
    assert [e["kind"] for e in lines()] == ["alias_move", "alias_move", "manual_alias", "gate"]
    assert {e["sig"]["key"] for e in lines()} == {fp}
    assert verify(capsys)[:2] == (0, f"ok: 4 entries, hash chain intact ({LOG}); the registry was not consulted\n"
                                     f"signatures: intact and signed by the release key (sha256:{fp}): 4 entries\n")


# -- the forger ------------------------------------------------------------------------------------------------


def test_a_forged_entry_with_a_recomputed_hash_and_head_is_caught_when_the_log_is_signed(repo, secrets, capsys):
    private, _ = release_key(secrets)
    append(3, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    forge_append()
    code, _, err = verify(capsys)
    assert code == 4
    assert (f"{LOG}:4: entry 4 is unsigned, after signed entries (from entry 1): it was appended without the release"
            " key") in err


def test_the_same_forgery_on_an_unsigned_log_is_accepted_but_reported_unsigned(repo, capsys):
    append(3, {})
    forge_append()
    code, out, _ = verify(capsys)
    assert code == 0
    assert "signatures: intact chain, unsigned (4 entries; no release key at policies/release-key.pub)" in out
    assert verify_decision_log(LOG) == 4  # the chain-only library call is unchanged
    result = verify_decision_log_signatures(LOG)
    assert (result.status, result.signed, result.unsigned, result.key_fingerprint, result.first_signed_seq) == (
        "unsigned", 0, 4, None, None)


def test_a_forgery_signed_with_another_key_is_named(repo, secrets, capsys):
    private, fp = release_key(secrets)
    append(2, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    intruder = ed25519.Ed25519PrivateKey.generate()
    forge_append(sign_with=intruder)
    code, _, err = verify(capsys)
    assert code == 4
    assert (f"{LOG}:3: entry 3 is signed by the key sha256:{signing.fingerprint(intruder.public_key())}, which is"
            f" not the release key sha256:{fp} (policies/release-key.pub)") in err


def test_a_signature_claiming_the_release_key_but_made_by_another_is_bad(repo, secrets, capsys):
    private, fp = release_key(secrets)
    append(2, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    intruder = ed25519.Ed25519PrivateKey.generate()
    entries = lines()
    entries[-1]["sig"]["value"] = base64.b64encode(
        intruder.sign(signing.signed_message(entries[-1]["hash"]))).decode()
    rewrite(entries)
    code, _, err = verify(capsys)
    assert code == 4
    assert f"{LOG}:2: entry 2: bad signature (it does not verify with sha256:{fp}" in err


def test_stripping_a_signature_breaks_the_chain_or_reads_as_a_downgrade(repo, secrets, capsys):
    private, _ = release_key(secrets)
    append(3, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    signed = lines()
    stripped = [*signed]
    stripped[1] = {k: v for k, v in signed[1].items() if k != "sig"}
    rewrite(stripped)
    code, _, err = verify(capsys)
    assert code == 4 and f"{LOG}:3: prev does not match the previous entry" in err  # the next line's prev covers it
    stripped = [*signed[:2], {k: v for k, v in signed[2].items() if k != "sig"}]
    rewrite(stripped)
    code, _, err = verify(capsys)
    assert code == 4 and f"{LOG}:3: entry 3 is unsigned, after signed entries" in err


def test_appending_without_the_key_to_a_signed_log_is_refused_before_anything_is_recorded(repo, secrets, capsys):
    private, fp = release_key(secrets)
    append(2, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    before = LOG.read_bytes()
    with pytest.raises(decision_log.UnsignedAfterSigned, match=f"signed \\(its last entry, 2, by the key sha256:{fp}"):
        append(1, {})
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create", "--reason", "hotfix"]) == 4
    assert "no signing key is configured" in capsys.readouterr().err
    assert LOG.read_bytes() == before
    assert not Path("audit/registry.json").exists()  # the registry was not touched either


def test_unsigned_entries_then_signed_ones_are_reported_and_require_signed_refuses_them(repo, secrets, capsys):
    append(2, {})  # the log predates the key
    private, fp = release_key(secrets)
    append(3, {"HARNESS_SIGNING_KEY": private.read_text()})
    code, out, _ = verify(capsys)
    assert code == 0
    assert (f"signatures: entries 1-2 unsigned, 3-5 signed by the release key (sha256:{fp}); the unsigned entries"
            " are covered by the chain up to entry 3's signature") in out
    code, _, err = verify(capsys, "--require-signed")
    assert code == 4 and f"{LOG}:1: entry 1 is unsigned and --require-signed is set (2 of 5 entries" in err
    capsys.readouterr()
    assert main(["log", "verify", "--chain-only", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)["signatures"]
    assert {k: report[k] for k in ("status", "entries", "signed", "unsigned", "key_fingerprint",
                                   "first_signed_seq")} == {"status": "mixed", "entries": 5, "signed": 3,
                                                            "unsigned": 2, "key_fingerprint": fp,
                                                            "first_signed_seq": 3}


def test_a_signed_log_without_its_public_key_cannot_be_checked(repo, secrets, capsys):
    private, fp = release_key(secrets)
    append(1, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    PUB.unlink()
    code, _, err = verify(capsys)
    assert code == 4
    assert (f"{LOG}:1: entry 1 is signed (by sha256:{fp}) but there is no release public key at"
            " policies/release-key.pub: its signature cannot be checked") in err


def test_rotation_keeps_old_entries_verifiable_and_a_retired_key_cannot_sign_after_the_new_one(repo, secrets, capsys):
    old, old_fp = release_key(secrets, "old.pem")
    append(2, {"HARNESS_SIGNING_KEY_FILE": str(old)})
    retired = Path("policies/retired-release-keys")
    retired.mkdir()
    PUB.rename(retired / "2026-11.pub")
    new, new_fp = release_key(secrets, "new.pem")
    with pytest.raises(signing.SigningKeyError, match="not the release key's private half"):
        append(1, {"HARNESS_SIGNING_KEY_FILE": str(old)})  # the retired key signs nothing new
    append(1, {"HARNESS_SIGNING_KEY_FILE": str(new)})
    code, out, _ = verify(capsys)
    assert code == 0
    assert (f"intact and signed by the retired key (sha256:{old_fp}) for 1-2 and the release key"
            f" (sha256:{new_fp}) for 3-3: 3 entries") in out
    forge_append(sign_with=signing.parse_private_key(old.read_bytes(), "old"))  # a stolen retired key
    code, _, err = verify(capsys)
    assert code == 4
    assert f"{LOG}:4: entry 4 is signed by the retired key sha256:{old_fp}" in err
    assert "after entry 3 was signed by the release key" in err


# -- bad keys: exit 4 before anything is recorded ---------------------------------------------------------------


def rsa_pem() -> str:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def encrypted_pem() -> str:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")).decode()


@pytest.mark.parametrize(("value", "message"), [
    pytest.param(lambda: "not a key!", "$HARNESS_SIGNING_KEY: neither PEM nor base64; expected an Ed25519 private key",
                 id="garbage"),
    pytest.param(lambda: base64.b64encode(b"x" * 31).decode(), "$HARNESS_SIGNING_KEY: 31 bytes once base64-decoded,"
                 " not 32", id="short-seed"),
    pytest.param(rsa_pem, "$HARNESS_SIGNING_KEY: an RSA key; expected an Ed25519 private key", id="rsa"),
    pytest.param(encrypted_pem, "$HARNESS_SIGNING_KEY: the key is encrypted with a passphrase", id="encrypted"),
    pytest.param(lambda: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                 "$HARNESS_SIGNING_KEY: not a readable PEM private key", id="bad-pem"),
])
def test_a_malformed_key_is_refused_naming_the_variable(repo, secrets, monkeypatch, capsys, value, message):
    release_key(secrets)
    monkeypatch.setenv("HARNESS_SIGNING_KEY", value())
    assert main(["registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create", "--reason", "x"]) == 4
    assert message in capsys.readouterr().err
    assert not LOG.exists() and not Path("audit/registry.json").exists()


def test_a_key_that_is_not_the_release_key_is_refused_naming_both_fingerprints(repo, secrets, capsys):
    _, fp = release_key(secrets)
    wrong = other_key_pem()
    mine = signing.fingerprint(signing.parse_private_key(wrong, "x").public_key())
    with pytest.raises(InputError) as caught:
        append(1, {"HARNESS_SIGNING_KEY": wrong.decode()})
    assert str(caught.value) == (f"$HARNESS_SIGNING_KEY holds the key sha256:{mine}, but the release key in"
                                 f" policies/release-key.pub is sha256:{fp}: it is not the release key's private"
                                 " half; nothing was recorded")
    assert not LOG.exists()


def test_a_key_with_no_public_key_in_the_repository_is_refused(repo, secrets):
    (secrets / "k.pem").write_bytes(other_key_pem())
    (secrets / "k.pem").chmod(0o600)
    with pytest.raises(InputError, match="the policy repository has no release public key at policies/release-key"):
        append(1, {"HARNESS_SIGNING_KEY_FILE": str(secrets / "k.pem")})
    assert not LOG.exists()


def test_a_key_file_missing_or_inside_the_repository_is_refused(repo, secrets, capsys):
    private, _ = release_key(secrets)
    with pytest.raises(InputError, match=f"\\$HARNESS_SIGNING_KEY_FILE: no such file {secrets}/gone.pem"):
        append(1, {"HARNESS_SIGNING_KEY_FILE": str(secrets / "gone.pem")})
    inside = repo / "audit" / "release.pem"
    inside.parent.mkdir()
    inside.write_bytes(private.read_bytes())
    with pytest.raises(InputError, match=r"the private key .*release\.pem is inside the policy repository"):
        append(1, {"HARNESS_SIGNING_KEY_FILE": str(inside)})
    (secrets / "link.pem").symlink_to(inside)  # a link out of the repository still points into it
    with pytest.raises(InputError, match="is inside the policy repository"):
        append(1, {"HARNESS_SIGNING_KEY_FILE": str(secrets / "link.pem")})
    with pytest.raises(InputError, match="both \\$HARNESS_SIGNING_KEY and \\$HARNESS_SIGNING_KEY_FILE are set"):
        append(1, {"HARNESS_SIGNING_KEY_FILE": str(private), "HARNESS_SIGNING_KEY": private.read_text()})
    assert not LOG.exists()


def test_a_log_written_before_signing_verifies_unchanged_and_says_it_is_unsigned(repo, secrets, capsys):
    """Lines hashed as earlier versions hashed them (sha256 of the canonical entry without ``hash``)."""
    import hashlib

    LOG.parent.mkdir()
    prev, text = "0" * 64, ""
    for seq in (1, 2):
        entry: dict[str, Any] = {"kind": "gate", "model": MODEL, "verdict": "block", "seq": seq, "prev": prev,
                                 "time": "2026-01-01T00:00:00Z"}
        entry["hash"] = hashlib.sha256(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        line = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        text += line + "\n"
        prev = hashlib.sha256(line.encode()).hexdigest()
    LOG.write_text(text)
    code, out, _ = verify(capsys)
    assert (code, out.splitlines()[1]) == (0, "signatures: intact chain, unsigned (2 entries; no release key at"
                                              " policies/release-key.pub)")
    _, fp = release_key(secrets)
    code, out, _ = verify(capsys)
    assert (code, out.splitlines()[1]) == (0, "signatures: intact chain, unsigned (2 entries; none carries a signature"
                                              f" of the release key sha256:{fp} yet)")
    assert LOG.read_text() == text


# -- the forger who can also write the repository's files, and what the key's own standing shows -----------------


def git(*args: str) -> None:
    subprocess.run(["git", "-c", "user.name=Release Bot", "-c", "user.email=bot@example.com", *args], check=True,
                   capture_output=True)


def resign(entries: list[dict[str, Any]], key: ed25519.Ed25519PrivateKey) -> list[dict[str, Any]]:
    """The whole chain rewritten and signed with ``key``: what a forger holding the working tree does."""
    fp, prev, out = signing.fingerprint(key.public_key()), decision_log.GENESIS, []
    for entry in entries:
        new = {k: v for k, v in entry.items() if k not in ("hash", "sig")} | {"prev": prev}
        new["hash"] = decision_log.entry_hash(new)
        new["sig"] = {"alg": "ed25519", "key": fp,
                      "value": base64.b64encode(key.sign(signing.signed_message(new["hash"]))).decode()}
        prev = decision_log.sha256_line(new)
        out.append(new)
    return out


def test_a_release_key_swapped_in_the_working_tree_is_named_and_refused_with_require_signed(repo, secrets, capsys):
    private, fp = release_key(secrets)
    assert main(["signoff", str(PUB), "--by", "security_officer:security-officer@example.com"]) == 0
    git("add", "-A")
    git("commit", "-q", "-m", "release key")
    append(2, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    code, out, err = verify(capsys, "--require-signed")
    assert (code, err) == (0, "")  # committed, signed off: nothing to warn about
    capsys.readouterr()
    assert main(["log", "verify", "--chain-only", "--format", "json"]) == 0
    provenance = json.loads(capsys.readouterr().out)["signatures"]["key_provenance"]
    assert provenance["git"] == "committed"
    assert {k: provenance["signoff"][k] for k in ("file", "role", "by")} == {
        "file": "policies/release-key.pub", "role": "security_officer", "by": "security-officer@example.com"}

    forger = ed25519.Ed25519PrivateKey.generate()
    PUB.write_bytes(forger.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    rewrite(resign(lines(), forger))
    forged_fp = signing.fingerprint(forger.public_key())
    code, out, err = verify(capsys)
    assert code == 0 and f"signed by the release key (sha256:{forged_fp}): 2 entries" in out  # the signatures fit
    assert err == ("harness: warning: policies/release-key.pub differs from the committed one (HEAD): a key swapped"
                   " in the working tree re-signs anything; commit the change with a sign-off, or restore it (`git"
                   " diff`)\nharness: warning: policies/release-key.pub has no valid sign-off in signoffs.yaml"
                   " (`harness signoff policies/release-key.pub --by ROLE:EMAIL`): nobody approved this key, or it"
                   " changed since\n")
    code, _, err = verify(capsys, "--require-signed")
    assert code == 4
    assert (f"policies/release-key.pub: --require-signed: the release key sha256:{forged_fp} is not one the policy"
            " repository approved: policies/release-key.pub differs from the committed one (HEAD)") in err
    assert fp != forged_fp


def test_a_signature_spelt_in_another_base64_is_an_edit(repo, secrets, capsys):
    """64 bytes end in one base64 digit with 4 unused bits: 16 spellings decode to the same signature."""
    private, _ = release_key(secrets)
    append(2, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    entries = lines()
    value = entries[-1]["sig"]["value"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = value[:-3] + alphabet[alphabet.index(value[-3]) ^ 1] + "=="
    assert base64.b64decode(twin) == base64.b64decode(value) and twin != value
    entries[-1]["sig"]["value"] = twin
    rewrite(entries)
    code, _, err = verify(capsys)
    assert code == 4
    assert f"{LOG}:2: the signature's base64 is not as the log writes it" in err


@pytest.mark.parametrize("sig", [
    pytest.param({"alg": "none", "key": "0" * 64, "value": ""}, id="alg-none"),
    pytest.param({"alg": "ed25519", "key": "A" * 64, "value": "x"}, id="uppercase-fingerprint"),
    pytest.param({"alg": "ed25519", "key": "0" * 64, "value": "QQ==" * 100_000}, id="huge-value"),
    pytest.param({"alg": "ed25519", "key": ["0" * 64], "value": 1}, id="wrong-types"),
    pytest.param(None, id="null"),
])
def test_a_malformed_signature_field_is_an_edit(repo, secrets, capsys, sig):
    private, _ = release_key(secrets)
    append(1, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    entries = lines()
    entries[-1]["sig"] = sig
    rewrite(entries)
    code, _, err = verify(capsys)
    assert code == 4 and f"{LOG}:1: the signature is not " in err


def test_a_key_rotated_out_signs_nothing_after_its_successor(repo, secrets, capsys):
    retired = Path("policies/retired-release-keys")
    retired.mkdir()
    first, first_fp = release_key(secrets, "a.pem")
    append(1, {"HARNESS_SIGNING_KEY_FILE": str(first)})
    PUB.rename(retired / "a.pub")
    second, second_fp = release_key(secrets, "b.pem")
    append(1, {"HARNESS_SIGNING_KEY_FILE": str(second)})
    PUB.rename(retired / "b.pub")
    release_key(secrets, "c.pem")  # the current key has signed nothing yet
    forge_append(sign_with=signing.parse_private_key(first.read_bytes(), "a"))  # a stolen, older retired key
    code, _, err = verify(capsys)
    assert code == 4
    assert (f"{LOG}:3: entry 3 is signed by the key sha256:{first_fp} (policies/retired-release-keys/a.pub) again,"
            f" after entry 2 was signed by the key that replaced it (sha256:{second_fp})") in err


# -- key files and variables --------------------------------------------------------------------------------------


def test_a_key_file_others_can_read_or_that_is_not_a_regular_file_is_refused(repo, secrets):
    private, _ = release_key(secrets)
    private.chmod(0o640)
    with pytest.raises(InputError, match=r"may be read by others \(mode 0640\).*run `chmod 600 "):
        append(1, {"HARNESS_SIGNING_KEY_FILE": str(private)})
    fifo = secrets / "fifo.pem"
    os.mkfifo(fifo, 0o600)
    (secrets / "zero.pem").symlink_to("/dev/zero")
    for path in (fifo, secrets / "zero.pem"):  # neither blocks nor reads without end
        with pytest.raises(InputError, match="is not a regular file"):
            append(1, {"HARNESS_SIGNING_KEY_FILE": str(path)})
    assert not LOG.exists()


def test_a_public_key_that_is_a_fifo_is_refused_without_blocking(repo, capsys):
    append(1, {})
    os.mkfifo(PUB)
    code, _, err = verify(capsys)
    assert code == 4
    assert "policies/release-key.pub: the release public key is not a regular file" in err


@pytest.mark.parametrize("form", ["pem", "seed"])
def test_a_key_put_in_the_file_variable_by_mistake_is_never_shown(repo, secrets, monkeypatch, capsys, form):
    private, _ = release_key(secrets)
    key = signing.parse_private_key(private.read_bytes(), "test")
    value = private.read_text() if form == "pem" else base64.b64encode(key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())).decode()
    secret = value.splitlines()[1] if form == "pem" else value
    capsys.readouterr()
    monkeypatch.setenv("HARNESS_SIGNING_KEY_FILE", value)
    code = main(["--debug", "registry", "alias", "--model", MODEL, "--version", "1.2.0", "--create", "--reason", "x"])
    out, err = capsys.readouterr()
    assert code == 4
    assert "$HARNESS_SIGNING_KEY_FILE holds a key, not the path of a file; put the key itself in" in err
    assert secret not in out + err and not LOG.exists()


def test_a_key_variable_with_crlf_and_surrounding_blanks_still_signs(repo, secrets):
    private, fp = release_key(secrets)
    pem = private.read_text().replace("\n", "\r\n")
    append(1, {"HARNESS_SIGNING_KEY": f"  {pem}\r\n\t"})
    assert lines()[0]["sig"]["key"] == fp


# -- keygen -----------------------------------------------------------------------------------------------------


def test_keygen_refuses_a_dangling_link_and_a_missing_folder_and_leaves_nothing(repo, secrets, capsys):
    (secrets / "link.pem").symlink_to(secrets / "target.pem")
    assert keygen(secrets / "link.pem") == 4
    assert f"the private key {secrets}/link.pem already exists; refusing to overwrite it" in capsys.readouterr().err
    assert not (secrets / "target.pem").exists() and not PUB.exists()
    assert keygen(secrets / "k.pem", "--public", str(secrets / "no" / "k.pub")) == 4
    assert f"the folder of the public key {secrets}/no/k.pub does not exist; create it first" in \
        capsys.readouterr().err
    assert sorted(p.name for p in secrets.iterdir()) == ["link.pem"]


def test_two_keygens_at_once_leave_one_matching_pair(repo, secrets):
    command = [sys.executable, "-m", "harness", "log", "keygen", "--private", str(secrets / "k.pem")]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    codes = sorted(run.wait(timeout=60) for run in runs)
    assert codes == [0, 4]
    key = signing.parse_private_key((secrets / "k.pem").read_bytes(), "k")
    assert signing.fingerprint(key.public_key()) == signing.fingerprint(signing.parse_public_key(PUB.read_bytes(), PUB))
    assert sorted(p.name for p in secrets.iterdir()) == ["k.pem"]
    assert not [p for p in Path("policies").iterdir() if p.name.endswith(".tmp")]
