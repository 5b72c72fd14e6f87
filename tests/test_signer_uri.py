"""``--key`` values: PEM files and securesystemslib signer URIs (PKCS#11 on SoftHSM2, KMS)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from softhsm import key_uri, softhsm_session  # noqa: F401 (the fixture softhsm_token)

from atlas_intoto.cli import main
from atlas_intoto.errors import FeatureUnavailableError, KeyLoadError, SignerUriError
from atlas_intoto.keys import generate_keypair, load_public_key
from atlas_intoto.link import load_link
from atlas_intoto.signer_uri import is_signer_uri, load_key_signer


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_paths_and_uris_are_told_apart() -> None:
    assert not is_signer_uri("keys/alice.key") and not is_signer_uri(Path("/keys/hsm:2"))
    assert is_signer_uri(Path("hsm:2?label=x"))  # how RecordingOptions.key_path carries --key
    assert not is_signer_uri("C:/keys/a.key") and not is_signer_uri("odd:name.key")
    for uri in ("hsm:", "hsm:2?label=x", "file:a.key", "gcpkms:p/k", "awskms:arn", "azurekms://v"):
        assert is_signer_uri(uri)


def test_file_path_and_file_uri_load_the_same_key(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_INTOTO_KEY_PASSWORD", "pw")
    paths = generate_keypair("alice", directory=ws / "keys", password=b"pw")
    expected = load_public_key(paths.public_key).keyid
    for value in (paths.private_key, str(paths.private_key), f"file:{paths.private_key}"):
        loaded = load_key_signer(value)
        assert loaded.keyid == expected and loaded.path == paths.private_key
    monkeypatch.setenv("ATLAS_INTOTO_KEY_PASSWORD", "wrong")
    with pytest.raises(KeyLoadError, match="wrong password"):
        load_key_signer(f"file:{paths.private_key}?encrypted=true")


def test_kms_without_its_extra_names_the_extra() -> None:
    try:
        import google.cloud.kms  # noqa: F401
    except ImportError:
        with pytest.raises(FeatureUnavailableError, match=r"securesystemslib\[gcpkms\]"):
            load_key_signer(
                "gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"
            )
    with pytest.raises(SignerUriError, match="azurekms://VAULT"):
        load_key_signer("azurekms://vault.vault.azure.net/secrets/x")
    try:
        import azure.keyvault.keys  # noqa: F401
    except ImportError:
        # A Path drops the '//' of azurekms://: restored, the URI is well-formed.
        with pytest.raises(FeatureUnavailableError, match=r"securesystemslib\[azurekms\]"):
            load_key_signer(Path("azurekms://vault.vault.azure.net/keys/k"))


def test_hsm_needs_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYKCS11LIB", raising=False)
    with pytest.raises(SignerUriError, match="PYKCS11LIB"):
        load_key_signer("hsm:2?label=x")
    monkeypatch.setenv("PYKCS11LIB", "/nonexistent/module.so")
    with pytest.raises(SignerUriError, match="no such PKCS#11 module"):
        load_key_signer("hsm:2?label=x")
    with pytest.raises(SignerUriError, match="must be a number"):
        load_key_signer("hsm:two")


def _keygen(ws: Path, name: str, keyid: int, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    code = main(["keygen", name, "--dir", "keys", "--hsm", key_uri(keyid), "--json"])
    assert code == 0, capsys.readouterr().err
    return dict(json.loads(capsys.readouterr().out))


def test_keygen_hsm_keeps_the_private_key_on_the_token(
    softhsm_token: str, ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = _keygen(ws, "alice", 10, capsys)
    assert doc["key_uri"] == key_uri(10)
    assert not (ws / "keys" / "alice.key").exists()
    assert load_public_key(ws / "keys" / "alice.pub").keyid == doc["keyid"]
    loaded = load_key_signer(doc["key_uri"])
    assert loaded.keyid == doc["keyid"] and loaded.path is None

    import pkcs11

    token = pkcs11.lib(softhsm_token).get_token(token_label="atlas-test")
    with token.open(user_pin="1234") as session:
        (private,) = session.get_objects(
            {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.Attribute.ID: b"\x0a"}
        )
        assert private[pkcs11.Attribute.SENSITIVE] and not private[pkcs11.Attribute.EXTRACTABLE]
    # The same key id twice is refused: it would shadow the first key.
    assert main(["keygen", "again", "--dir", "keys", "--hsm", key_uri(10)]) == 2
    assert "already holds key id 10" in capsys.readouterr().err


def test_wrong_pin_and_missing_key_fail_before_anything_runs(
    softhsm_token: str,
    ws: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _keygen(ws, "bob", 11, capsys)
    with pytest.raises(SignerUriError, match="could not find ECDSA key"):
        load_key_signer(key_uri(99))
    monkeypatch.setenv("ATLAS_INTOTO_HSM_PIN", "0000")
    with pytest.raises(SignerUriError, match="cannot sign"):
        load_key_signer(key_uri(11))
    code = main(
        ["run", "--step", "s", "--key", key_uri(11), "--", sys.executable, "-c", "open('ran','w')"]
    )
    assert code == 2 and not (ws / "ran").exists()
    monkeypatch.delenv("ATLAS_INTOTO_HSM_PIN")
    monkeypatch.setattr("sys.stdin", None)
    with pytest.raises(SignerUriError, match="ATLAS_INTOTO_HSM_PIN"):
        load_key_signer(key_uri(11))


def test_run_signs_the_link_and_c2pa_on_the_token(
    softhsm_token: str, ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _keygen(ws, "trainer", 12, capsys)
    (ws / "model.bin").write_bytes(b"weights")
    base = ["run", "--step", "train", "--key", key_uri(12), "--c2pa", "--products", "model.bin"]
    command = ["--", sys.executable, "-c", "open('model.bin','ab').write(b'!')"]
    # C2PA needs the token key's certificate: without --cert it fails before the command.
    assert main([*base, *command]) == 2
    assert "--cert" in capsys.readouterr().err
    assert main([*base, "--cert", "keys/trainer.crt", *command]) == 0, capsys.readouterr().err
    (link_path,) = (ws / ".atlas").glob("train.*.link")
    public = load_public_key(ws / "keys" / "trainer.pub")
    loaded = load_link(link_path.read_bytes(), [public])
    assert loaded.signed_by == (public.keyid,) and set(loaded.products) == {"model.bin"}
    assert loaded.evidence is not None and "model.bin" in loaded.evidence["c2pa"]
    assert main(["c2pa", "show", "model.bin", "--json", "--anchor", "keys/ca.crt"]) == 0
    assert json.loads(capsys.readouterr().out)["validation_state"] == "Trusted"


LAYOUT = """\
apiVersion: atlas-intoto/v1
kind: Layout
expires: "2035-01-01T00:00:00Z"
functionaries: {trainer: keys/worker.pub}
steps:
  - name: train
    functionaries: [trainer]
    expected_command: [python3, -c]
    command_match: prefix
    materials: ["DISALLOW *"]
    products: ["CREATE out.txt", "DISALLOW *"]
"""


def test_layout_signed_on_the_token_and_a_token_functionary_passes_preflight(
    softhsm_token: str, ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    from atlas_intoto.layout.envelope import verify_signed_layout

    _keygen(ws, "owner", 13, capsys)
    _keygen(ws, "worker", 14, capsys)
    (ws / "layout.yaml").write_text(LAYOUT)
    code = main(["layout", "sign", "layout.yaml", "--key", key_uri(13), "--out", "l.json"])
    assert code == 0, capsys.readouterr().err
    owner = load_public_key(ws / "keys" / "owner.pub")
    doc = json.loads((ws / "l.json").read_text())
    verify_signed_layout(doc, layout_keys=[owner], now=int(time.time()))
    run = ["run", "--step", "train", "--key", key_uri(14), "--layout", "l.json"]
    command = ["--products", "out.txt", "--", "python3", "-c", "open('out.txt','w').write('x')"]
    assert main([*run, *command]) == 0, capsys.readouterr().err
    # The owner's token key is not the trainer: pre-flight refuses it before anything runs.
    other = ["run", "--step", "train", "--key", key_uri(13), "--layout", "l.json", "--out", "o"]
    assert main([*other, *command]) == 2


def test_model_sign_needs_a_key_file(
    softhsm_token: str, ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _keygen(ws, "modelowner", 15, capsys)
    # OMS signatures are made by model-signing with the key itself: a clear error, not a crash.
    (ws / "model").mkdir()
    (ws / "model" / "w.bin").write_bytes(b"w")
    assert main(["model", "sign", "model", "--key", key_uri(15)]) == 2
    assert "need a key file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("pkcs11:token=x;object=k", "unknown signer URI scheme 'pkcs11'"),
        ("https://kms.example/keys/k", "unknown signer URI scheme 'https'"),
        ("HSM:2", "unknown signer URI scheme 'HSM'"),
        ("file:", "no path after 'file:'"),
        ("file://evil.example/etc/key.pem", "not host evil.example"),
        ("hsm:-1", "must be a number"),
        ("hsm:\uff12", "must be a number"),
        ("hsm:2/../3", "must be a number"),
        ("hsm://2", "expected hsm:KEYID"),
        ("hsm:2#frag", "expected hsm:KEYID"),
        ("hsm:2?pin=1234", "ATLAS_INTOTO_HSM_PIN"),
        ("hsm:2?label=a&label=b", "one non-empty label"),
        ("hsm:2?label=", "one non-empty label"),
        ("gcpkms:", "no key after"),
        ("azurekms://vault", "expected azurekms://"),
    ],
)
def test_malformed_key_uris_are_one_line_errors_naming_key(
    ws: Path, monkeypatch: pytest.MonkeyPatch, value: str, match: str
) -> None:
    monkeypatch.delenv("PYKCS11LIB", raising=False)
    with pytest.raises(SignerUriError, match=match) as caught:
        load_key_signer(value)
    message = str(caught.value)
    assert message.startswith(f"--key {value}") and "\n" not in message
    assert caught.value.exit_code == 2


def test_a_file_whose_name_looks_like_a_uri_still_loads(ws: Path) -> None:
    generate_keypair("odd:name", directory=ws)
    assert load_key_signer("odd:name.key").path == Path("odd:name.key")


def test_cli_unknown_key_scheme_exits_2_before_running(
    ws: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = [sys.executable, "-c", "open('ran','w')"]
    code = main(["run", "--step", "s", "--key", "pkcs11:token=x", "--json", "--", *command])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not (ws / "ran").exists()
    assert len(err.splitlines()) == 1 and "--key pkcs11:token=x" in err
