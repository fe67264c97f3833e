"""Signing the decision log: the release key, its fingerprint, and checking a log's signatures.

A hash chain shows edits, but anyone who can write the log can append an entry with a
recomputed hash and rewrite ``.head``. A signed entry carries
``sig: {alg: "ed25519", key: <fingerprint>, value: <base64>}``: an Ed25519 signature of
``b"harness decision log v1\\n"`` followed by the entry's ``hash`` (64 hex characters, ASCII).
The fingerprint is the sha256 (hex) of the raw 32-byte public key.

The private key comes from ``$HARNESS_SIGNING_KEY`` (the key itself) or ``$HARNESS_SIGNING_KEY_FILE``
(a file outside the policy repository), as PEM (PKCS #8, unencrypted: what ``harness log keygen``
writes) or as the base64 of the 32-byte seed; a key file must be a regular file only its owner may read
(as ssh, mode 0600), and a key put in the file variable by mistake is refused without being shown. The
public key is PEM (SubjectPublicKeyInfo) in the
policy repository, ``release-key.pub`` in the policies folder, so checking needs no secret; keys
retired by a rotation stay in ``retired-release-keys/*.pub`` next to it and vouch only for entries
signed before the first entry of the current key (and a key, once replaced, signs nothing again).
Whoever can write the working tree can swap the public key and re-sign the whole log, so ``log verify``
also says whether the key is the one committed at HEAD and signed off (:class:`KeyProvenance`).
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, Location
from ..io.files import sync_directory
from . import decision_log
from .decision_log import LogTampered
from .provenance import _git

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    from ..project.signoff import SignOff

#: the environment variable holding the private key itself
ENV_KEY = "HARNESS_SIGNING_KEY"
#: the environment variable holding the path of a file with the private key
ENV_KEY_FILE = "HARNESS_SIGNING_KEY_FILE"
#: the current release key's public half, in the policies folder
PUBLIC_KEY = "release-key.pub"
#: the folder, next to the public key, of keys retired by a rotation
RETIRED_KEYS = "retired-release-keys"
ALG = "ed25519"
_DOMAIN = b"harness decision log v1\n"
_MAX_KEY_BYTES = 64 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SigningKeyError(InputError):
    """The signing key or the release public key is missing, unreadable, of the wrong kind or not the release key."""


def shown(fingerprint: str) -> str:
    """A fingerprint as messages show it."""
    return f"sha256:{fingerprint}"


def fingerprint(public: Ed25519PublicKey) -> str:
    """The sha256 (hex) of the raw 32-byte public key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def signed_message(entry_hash: str) -> bytes:
    """The bytes an entry's signature covers: a fixed prefix and its ``hash``."""
    return _DOMAIN + entry_hash.encode("ascii")


def _kind(key: object) -> str:
    name = type(key).__name__
    for suffix in ("PrivateKey", "PublicKey"):
        name = name.removesuffix(suffix)
    return name or "unknown"


def parse_private_key(data: bytes, source: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS #8) or the base64 of its 32-byte seed.

    Anything else is a ``SigningKeyError`` naming ``source`` (the variable or the file).
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    text = data.strip()
    expected = "expected an Ed25519 private key as PEM (PKCS #8, as `harness log keygen` writes) or the base64 of its" \
               " 32-byte seed"
    if text.startswith(b"-----BEGIN"):
        if b"ENCRYPTED" in text.split(b"\n", 1)[0] or b"Proc-Type: 4,ENCRYPTED" in text:
            raise SigningKeyError(f"{source}: the key is encrypted with a passphrase; {expected}, unencrypted (keep it"
                                  " in a secret store instead)")
        try:
            key = load_pem_private_key(text, password=None)
        except TypeError:
            raise SigningKeyError(f"{source}: the key is encrypted with a passphrase; {expected},"
                                  " unencrypted") from None
        except (ValueError, UnsupportedAlgorithm):
            raise SigningKeyError(f"{source}: not a readable PEM private key; {expected}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{source}: an {_kind(key)} key; {expected}")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{source}: neither PEM nor base64; {expected}") from None
    if len(seed) != 32:
        raise SigningKeyError(f"{source}: {len(seed)} bytes once base64-decoded, not 32; {expected}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def parse_public_key(data: bytes, path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo); ``SigningKeyError`` naming the file."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    expected = "expected an Ed25519 public key as PEM (-----BEGIN PUBLIC KEY-----), as `harness log keygen` writes"
    try:
        key = load_pem_public_key(data.strip())
    except (ValueError, UnsupportedAlgorithm):
        raise SigningKeyError(f"not a readable PEM public key; {expected}", Location(file=str(path))) from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"an {_kind(key)} key; {expected}", Location(file=str(path)))
    return key


def _read_regular(path: Path, limit: int = _MAX_KEY_BYTES) -> tuple[bytes, int]:
    """The bytes of a small regular file (links followed) and its mode; ``OSError``/``ValueError`` otherwise.

    Opened without blocking and checked on the open file: a FIFO, a device such as /dev/zero or a
    folder is refused before a byte is read, and no more than ``limit`` bytes are ever read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file (a FIFO, a socket or a device)")
        chunks, size = [], 0
        while chunk := os.read(fd, limit + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError(f"larger than {limit // 1024} KiB; not a key file")
        return b"".join(chunks), info.st_mode
    finally:
        os.close(fd)


def _read_key_file(path: Path, source: str) -> bytes:
    """The private key file's bytes: a small regular file that only its owner may read."""
    try:
        data, mode = _read_regular(path)
    except FileNotFoundError:
        raise SigningKeyError(f"{source}: no such file {path}") from None
    except IsADirectoryError:
        raise SigningKeyError(f"{source}: {path} is a directory; expected the key file") from None
    except ValueError as exc:
        raise SigningKeyError(f"{source}: {path} is {exc}; expected the key file") from None
    except OSError as exc:
        raise SigningKeyError(f"{source}: cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise SigningKeyError(f"{source}: {path} may be read by others (mode {stat.S_IMODE(mode):04o}): anyone who"
                              f" can read it can sign the log; run `chmod 600 {path}` (as ssh, the harness refuses a"
                              " private key others can read)")
    return data


def _looks_like_a_key(value: str) -> bool:
    """Whether a value meant to be a path is a key itself (PEM, or the base64 of a 32-byte seed)."""
    if "-----BEGIN" in value or "PRIVATE KEY" in value or "\n" in value:
        return True
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def repository_root(policies_dir: Path) -> Path:
    """The policy repository's git work tree; the policies folder itself when it is not in one."""
    top = _git(["rev-parse", "--show-toplevel"], cwd=policies_dir) if policies_dir.is_dir() else None
    return Path(top).resolve() if top else policies_dir.resolve()


def refuse_inside_repository(path: Path, policies_dir: Path, source: str) -> None:
    """``SigningKeyError`` when ``path`` (links followed) lies inside the policy repository."""
    root = repository_root(policies_dir)
    if path.resolve().is_relative_to(root):
        raise SigningKeyError(f"{source}: the private key {path} is inside the policy repository ({root}): a key there"
                              " is one `git add` away from being published, and anyone who can read it can sign the"
                              " log; keep it outside the repository (a CI secret, or a file such as"
                              " ~/.config/harness/release-key.pem)")


@dataclass(frozen=True)
class ReleaseKey:
    """A public key the log's signatures are checked with: the current release key or a retired one."""

    path: str
    fingerprint: str
    retired: bool
    key: Ed25519PublicKey = field(repr=False, compare=False)


@dataclass(frozen=True)
class ReleaseKeys:
    """The policy repository's release key (``None`` when there is none yet) and the keys it retired."""

    public_key: str  # where the current key is expected
    current: ReleaseKey | None
    retired: tuple[ReleaseKey, ...] = ()

    def find(self, fingerprint: str) -> ReleaseKey | None:
        return next((k for k in (self.current, *self.retired) if k is not None and k.fingerprint == fingerprint), None)


def public_key_path(policies_dir: Path, public_key: Path | None = None) -> Path:
    """Where the release key's public half is: ``public_key`` when given, else ``<policies>/release-key.pub``."""
    return public_key if public_key is not None else policies_dir / PUBLIC_KEY


def _load_public(path: Path, retired: bool) -> ReleaseKey:
    try:
        data = _read_regular(path)[0]
    except IsADirectoryError:
        raise SigningKeyError("the release public key is a directory; expected a PEM file",
                              Location(file=str(path))) from None
    except ValueError as exc:
        raise SigningKeyError(f"the release public key is {exc}; expected a PEM file",
                              Location(file=str(path))) from None
    except OSError as exc:
        raise SigningKeyError(f"cannot read the release public key: {exc.strerror or exc}",
                              Location(file=str(path))) from None
    key = parse_public_key(data, path)
    return ReleaseKey(str(path), fingerprint(key), retired, key)


def release_keys(policies_dir: Path, public_key: Path | None = None) -> ReleaseKeys:
    """The release key and the retired keys of the policy repository, read and checked."""
    path = public_key_path(policies_dir, public_key)
    current = _load_public(path, False) if path.exists() or path.is_symlink() else None
    folder = path.parent / RETIRED_KEYS
    retired = tuple(_load_public(p, True) for p in sorted(folder.glob("*.pub"))) if folder.is_dir() else ()
    return ReleaseKeys(str(path), current, retired)


@dataclass(frozen=True)
class Signer:
    """The release key's private half, from the environment: signs entry hashes."""

    fingerprint: str
    source: str
    key: Ed25519PrivateKey = field(repr=False)

    def __call__(self, entry_hash: str) -> dict[str, str]:
        value = base64.b64encode(self.key.sign(signed_message(entry_hash))).decode("ascii")
        return {"alg": ALG, "key": self.fingerprint, "value": value}


def configured_signer(policies_dir: Path, *, public_key: Path | None = None,
                      environ: Mapping[str, str] | None = None) -> Signer | None:
    """The signing key the environment configures, checked against the repository's release key; None if none is.

    ``SigningKeyError`` (exit 4) for both variables set, a key file missing, unreadable or inside the
    policy repository, a key that is not Ed25519, a repository with no release key, or a key that is not
    the release key's private half (both fingerprints named).
    """
    env = os.environ if environ is None else environ
    inline = env.get(ENV_KEY, "").strip()
    file = env.get(ENV_KEY_FILE, "").strip()
    if not inline and not file:
        return None
    if inline and file:
        raise SigningKeyError(f"both ${ENV_KEY} and ${ENV_KEY_FILE} are set; set one (the key itself, or the path of"
                              " a file holding it)")
    if file:
        if _looks_like_a_key(file):  # never echo it: the value is a secret put in the wrong variable
            raise SigningKeyError(f"${ENV_KEY_FILE} holds a key, not the path of a file; put the key itself in"
                                  f" ${ENV_KEY} instead (its value is not shown)")
        path = Path(file).expanduser()
        source = f"${ENV_KEY_FILE} ({path})"
        refuse_inside_repository(path, policies_dir, f"${ENV_KEY_FILE}")
        data = _read_key_file(path, f"${ENV_KEY_FILE}")
    else:
        source, data = f"${ENV_KEY}", inline.encode("utf-8", "replace")
    key = parse_private_key(data, source)
    mine = fingerprint(key.public_key())
    keys = release_keys(policies_dir, public_key)
    if keys.current is None:
        raise SigningKeyError(f"{source} is set, but the policy repository has no release public key at"
                              f" {keys.public_key}: commit its public half there (`harness log keygen` writes both)"
                              " so the signatures can be checked; nothing was recorded")
    if keys.current.fingerprint != mine:
        raise SigningKeyError(f"{source} holds the key {shown(mine)}, but the release key in {keys.public_key} is"
                              f" {shown(keys.current.fingerprint)}: it is not the release key's private half;"
                              " nothing was recorded")
    return Signer(mine, source, key)


@dataclass(frozen=True)
class KeyProvenance:
    """Whether the release key's public half is the one the policy repository committed, and who signed it off.

    Whoever can write the working tree can put their own key there and re-sign the whole log: the
    signatures then check, and only the key's fingerprint, its git state and its sign-off show the swap.
    """

    #: ``committed`` (as at HEAD), ``modified`` (differs from HEAD), ``uncommitted`` (not at HEAD), ``outside``
    #: (not in the repository), None (no git work tree, or no commit yet)
    git: str | None
    #: the latest valid sign-off of the key file, by the address holding the role it names
    signoff: SignOff | None

    def problems(self, path: str) -> list[str]:
        """What makes the key untrustworthy as it is (empty when it is committed and signed off)."""
        found = {"modified": [f"{path} differs from the committed one (HEAD): a key swapped in the working tree"
                              " re-signs anything; commit the change with a sign-off, or restore it (`git diff`)"],
                 "uncommitted": [f"{path} is not committed: a key nobody reviewed vouches for nothing; commit it"
                                 " with a sign-off"],
                 "outside": [f"{path} is outside the policy repository; the release key is the one committed there"],
                 }.get(self.git or "", [])
        if self.signoff is None:
            found.append(f"{path} has no valid sign-off in signoffs.yaml (`harness signoff {path} --by ROLE:EMAIL`):"
                         " nobody approved this key, or it changed since")
        return found

    def to_json(self) -> dict[str, Any]:
        return {"git": self.git, "signoff": self.signoff.to_json() if self.signoff else None}


def key_provenance(policies_dir: Path, public_key: Path) -> KeyProvenance:
    """The git state and the sign-off of the release key's public half (see :class:`KeyProvenance`)."""
    from ..project import read_playbook
    from ..project.signoff import holder_problem, status

    state: str | None = None
    top = _git(["rev-parse", "--show-toplevel"], cwd=policies_dir) if policies_dir.is_dir() else None
    if top:
        root = Path(top).resolve()
        target = public_key.resolve()
        if not target.is_relative_to(root):
            state = "outside"
        elif _git(["rev-parse", "--verify", "-q", "HEAD"], cwd=root) is not None:
            name = target.relative_to(root).as_posix()
            committed = _git(["rev-parse", "-q", "--verify", f"HEAD:{name}"], cwd=root)
            now = _git(["hash-object", "--", name], cwd=root)
            state = "uncommitted" if committed is None else "committed" if committed == now else "modified"
    roles = read_playbook(policies_dir).roles
    try:
        valid = [e for e, ok in status(policies_dir, public_key) if ok and holder_problem(roles, e.role, e.by) is None]
    except InputError:  # the key is outside the repository the sign-offs speak of
        valid = []
    return KeyProvenance(state, valid[-1] if valid else None)


@dataclass(frozen=True)
class KeyUse:
    """The entries one key signed: how many, the first and the last."""

    fingerprint: str
    path: str
    retired: bool
    entries: int
    first_seq: int
    last_seq: int

    def to_json(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "path": self.path, "retired": self.retired, "entries": self.entries,
                "first_seq": self.first_seq, "last_seq": self.last_seq}


@dataclass(frozen=True)
class LogVerification:
    """A decision log whose chain is intact and whose signatures were checked: what signs it, and from where."""

    log: str
    entries: int
    signed: int
    unsigned: int
    #: where the release key's public half is expected, and its fingerprint when it is there
    public_key: str
    key_fingerprint: str | None
    #: the first signed entry; every entry from it on is signed
    first_signed_seq: int | None
    signers: tuple[KeyUse, ...] = ()
    require_signed: bool = False
    #: the release key's git state and sign-off; None when not looked at (no release key, or a bare check)
    provenance: KeyProvenance | None = None

    def warnings(self) -> list[str]:
        """Why the release key itself may not be the one the repository approved (see :class:`KeyProvenance`)."""
        return self.provenance.problems(self.public_key) if self.provenance and self.key_fingerprint else []

    @property
    def status(self) -> str:
        """``empty``, ``unsigned``, ``signed`` (every entry) or ``mixed`` (unsigned entries, then signed ones)."""
        if not self.entries:
            return "empty"
        if not self.signed:
            return "unsigned"
        return "signed" if not self.unsigned else "mixed"

    def _by(self) -> str:
        names = [f"the {'retired' if u.retired else 'release'} key ({shown(u.fingerprint)})"
                 + (f" for {u.first_seq}-{u.last_seq}" if len(self.signers) > 1 else "") for u in self.signers]
        return " and ".join(names)

    def describe(self) -> str:
        """One line: signed by the release key, an intact but unsigned chain, or unsigned entries then signed ones."""
        if self.status == "empty":
            return "no entries yet" + (f"; the release key is {shown(self.key_fingerprint)}" if self.key_fingerprint
                                       else "")
        if self.status == "unsigned":
            if self.key_fingerprint is None:
                return f"intact chain, unsigned ({self.entries} entries; no release key at {self.public_key})"
            return (f"intact chain, unsigned ({self.entries} entries; none carries a signature of the release key"
                    f" {shown(self.key_fingerprint)} yet)")
        if self.status == "signed":
            return f"intact and signed by {self._by()}: {self.entries} entries"
        first = self.first_signed_seq or 0
        unsigned = "entry 1" if first == 2 else f"entries 1-{first - 1}"
        return (f"{unsigned} unsigned, {first}-{self.entries} signed by {self._by()}; the unsigned entries are"
                f" covered by the chain up to entry {first}'s signature")

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "log": self.log, "entries": self.entries, "signed": self.signed,
                "unsigned": self.unsigned, "public_key": self.public_key, "key_fingerprint": self.key_fingerprint,
                "first_signed_seq": self.first_signed_seq, "signers": [u.to_json() for u in self.signers],
                "require_signed": self.require_signed, "summary": self.describe(),
                "key_provenance": self.provenance.to_json() if self.provenance else None,
                "warnings": self.warnings()}


def _signature(sig: Any, where: Location) -> tuple[str, bytes]:
    """The fingerprint and signature bytes of a ``sig`` field written as the log writes it; else ``LogTampered``."""
    if (not isinstance(sig, dict) or set(sig) != {"alg", "key", "value"} or sig["alg"] != ALG
            or not isinstance(sig["key"], str) or not _HEX64.fullmatch(sig["key"])
            or not isinstance(sig["value"], str)):
        raise LogTampered('the signature is not {"alg": "ed25519", "key": <sha256 fingerprint>, "value": <base64>}:'
                          " the entry was edited after it was written", where)
    try:
        value = base64.b64decode(sig["value"], validate=True)
    except (binascii.Error, ValueError):
        value = b""
    if len(value) != 64:
        raise LogTampered("the signature is not 64 bytes of base64: the entry was edited after it was written", where)
    if base64.b64encode(value).decode("ascii") != sig["value"]:
        # the same signature spelt another way (unused low bits set): a byte-different line the signature still fits
        raise LogTampered("the signature's base64 is not as the log writes it (the same bytes spelt differently):"
                          " the entry was edited after it was written", where)
    return sig["key"], value


def verify_signatures(path: Path, keys: ReleaseKeys, *, require_signed: bool = False,
                      entries: Sequence[Mapping[str, Any]] | None = None) -> LogVerification:
    """Check the chain, then every signature; a ``LogVerification``, or an ``InputError`` naming the line.

    ``entries``: what ``decision_log.verified_entries(path)`` already returned (the chain is then not read
    and checked a second time).

    Once an entry is signed every later one must be, by the release key (a retired key only before the
    release key's first entry). A signature that does not verify, a key that is not the release key, a
    signed entry with no public key to check it with, and (with ``require_signed``) any unsigned entry are
    errors.
    """
    from cryptography.exceptions import InvalidSignature

    if entries is None:
        entries = decision_log.verified_entries(path)
    first_signed: int | None = None
    current_from: int | None = None
    last_key: str | None = None
    uses: dict[str, list[int]] = {}
    for entry in entries:
        seq = int(entry["seq"])
        where = Location(file=str(path), line=seq)
        if "sig" not in entry:
            if first_signed is not None:
                raise LogTampered(f"entry {seq} is unsigned, after signed entries (from entry {first_signed}): it was"
                                  " appended without the release key (a forgery, or a writer without"
                                  f" ${ENV_KEY}); a signed log stays signed", where)
            if require_signed:
                raise LogTampered(f"entry {seq} is unsigned and --require-signed is set"
                                  f" ({sum('sig' not in e for e in entries)} of {len(entries)} entries are unsigned)",
                                  where)
            continue
        fp, value = _signature(entry["sig"], where)
        key = keys.find(fp)
        if key is None:
            if keys.current is None and not keys.retired:
                raise SigningKeyError(f"entry {seq} is signed (by {shown(fp)}) but there is no release public key at"
                                      f" {keys.public_key}: its signature cannot be checked; restore the public key"
                                      " from the policy repository's history", where)
            current = (f"the release key {shown(keys.current.fingerprint)} ({keys.current.path})" if keys.current
                       else f"a release key (none at {keys.public_key})")
            retired = f" nor a retired key in {Path(keys.public_key).parent / RETIRED_KEYS}" if keys.retired else ""
            raise LogTampered(f"entry {seq} is signed by the key {shown(fp)}, which is not {current}{retired}: the"
                              " entry was signed by someone else", where)
        try:
            key.key.verify(value, signed_message(str(entry["hash"])))
        except InvalidSignature:
            raise LogTampered(f"entry {seq}: bad signature (it does not verify with {shown(fp)}, {key.path}): the"
                              " entry or its signature was forged", where) from None
        if key.retired and current_from is not None:
            raise LogTampered(f"entry {seq} is signed by the retired key {shown(fp)} ({key.path}) after entry"
                              f" {current_from} was signed by the release key: a retired key vouches only for entries"
                              " from before the rotation", where)
        if last_key is not None and fp != last_key and fp in uses:
            raise LogTampered(f"entry {seq} is signed by the key {shown(fp)} ({key.path}) again, after entry"
                              f" {uses[last_key][1]} was signed by the key that replaced it ({shown(last_key)}): a"
                              " key that was rotated out signs nothing after its successor", where)
        if not key.retired and current_from is None:
            current_from = seq
        first_signed = first_signed or seq
        last_key = fp
        use = uses.setdefault(fp, [0, seq, seq])
        use[0] += 1
        use[2] = seq
    if require_signed and keys.current is None:
        raise SigningKeyError(f"--require-signed: there is no release public key at {keys.public_key}",
                              Location(file=str(path)))
    signers = tuple(KeyUse(fp, k.path, k.retired, n, first, last) for fp, (n, first, last) in uses.items()
                    for k in [keys.find(fp)] if k is not None)
    signed = sum(u.entries for u in signers)
    return LogVerification(str(path), len(entries), signed, len(entries) - signed, keys.public_key,
                           keys.current.fingerprint if keys.current else None, first_signed,
                           tuple(sorted(signers, key=lambda u: u.first_seq)), require_signed)


@dataclass(frozen=True)
class KeyPair:
    """A new release key: where its halves were written, and its fingerprint."""

    private: str
    public: str
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {"private": self.private, "public": self.public, "fingerprint": self.fingerprint}


@dataclass
class _Prepared:
    """A key file written in full and synced but not yet given its name (see :func:`_prepare`)."""

    fd: int
    #: the temporary name where the system has no nameless files (``O_TMPFILE``); None on Linux
    temporary: Path | None

    def close(self) -> None:
        os.close(self.fd)
        if self.temporary is not None:
            self.temporary.unlink(missing_ok=True)


def _prepare(path: Path, data: bytes, mode: int, what: str) -> _Prepared:
    """A file in ``path``'s folder holding all of ``data``, synced, with no name yet: nothing to see if we die now.

    Linux's ``O_TMPFILE`` gives the file a name only when :func:`_publish` links it; elsewhere a
    dot-named temporary file stands in (removed on any error, left behind only by a kill).
    """
    temporary = None
    try:
        try:
            fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, mode)
        except (AttributeError, OSError) as exc:  # no O_TMPFILE here, or not on this file system
            if isinstance(exc, OSError) and exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
            temporary = path.parent / f".{path.name}.{os.getpid()}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise SigningKeyError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    prepared = _Prepared(fd, temporary)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:
        prepared.close()
        raise SigningKeyError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    return prepared


def _publish(prepared: _Prepared, path: Path, what: str) -> None:
    """Give the prepared file its name, never replacing a file (or a link, even a dangling one) already there."""
    try:
        if prepared.temporary is not None:
            os.link(prepared.temporary, path)
        else:  # linkat(AT_SYMLINK_FOLLOW) through /proc: a directory fd makes os.link use linkat, not link(2)
            root = os.open("/", os.O_RDONLY)
            try:
                os.link(f"/proc/self/fd/{prepared.fd}", path, src_dir_fd=root, follow_symlinks=True)
            finally:
                os.close(root)
    except FileExistsError:
        raise SigningKeyError(f"{what} {path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    sync_directory(path.parent)


def generate_key_pair(private: Path, public: Path, *, policies_dir: Path) -> KeyPair:
    """Write a new Ed25519 key: the private half (PEM PKCS #8, mode 0600) outside the policy repository,
    the public half (PEM SubjectPublicKeyInfo) at ``public``. Neither file may exist already."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    refuse_inside_repository(private, policies_dir, "--private")
    for path, what in ((private, "the private key"), (public, "the public key")):
        if path.exists() or path.is_symlink():
            hint = (f"; to rotate, move the old public key into {path.parent / RETIRED_KEYS}/ first"
                    if path == public else "")
            raise SigningKeyError(f"{what} {path} already exists; refusing to overwrite it{hint}")
        if not path.parent.is_dir():
            raise SigningKeyError(f"the folder of {what} {path} does not exist; create it first")
    key = Ed25519PrivateKey.generate()
    # both halves are written in full before either has a name; the public one is named first, so a kill
    # between the two links leaves at worst a public key (no secret) and never a private key without it
    public_file = _prepare(public, key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
                           0o644, "the public key")
    try:
        private_file = _prepare(private, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), 0o600,
                                "the private key")
        try:
            _publish(public_file, public, "the public key")
            try:
                _publish(private_file, private, "the private key")
            except BaseException:
                public.unlink(missing_ok=True)  # a public half whose private half could not be written is of no use
                raise
        finally:
            private_file.close()
    finally:
        public_file.close()
    return KeyPair(str(private), str(public), fingerprint(key.public_key()))
