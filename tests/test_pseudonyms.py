"""Pseudonyms are keyed: a known answer, disjoint under two keys, the demo key only for the demo.

The expected values were computed once, apart from this code base, with OpenSSL:
    printf 'person|0123456789' | openssl dgst -sha256 -hmac 'lvv-demo-key-not-secret'
    printf 'episode|utrecht|20001' | openssl dgst -sha256 -hmac 'lvv-demo-key-not-secret'
and are written here as literals (the pseudonym is the first 20 hex digits, after a letter).
"""

from __future__ import annotations

import hashlib
import pickle

import pytest

from lvv.demo import oracle_episodes
from lvv.settings import KEY_ENV, SettingsError, pseudonym_key
from transforms.protect import Pseudonymiser

DEMO_KEY = "lvv-demo-key-not-secret"
PERSON_HMAC = "ee0cded6e08c994dd17cd86feb0ae8193c55c5b81eed150b2c30ceee3ac7f939"
EPISODE_HMAC = "c5dbb39889428c407ea7b892046f0474718e996221147e36d711895a91cd99c7"


def test_known_answer_hmac_sha256():
    p = Pseudonymiser(DEMO_KEY)
    assert p.person("0123456789") == "P" + PERSON_HMAC[:20]
    assert p.person(" 0123456789 ") == "P" + PERSON_HMAC[:20]  # the cell's spaces do not count
    assert p.episode("utrecht", "20001") == "E" + EPISODE_HMAC[:20]
    # not a plain hash: a 10-digit V-number hashed without a key is brute-forced in seconds
    plain = hashlib.sha256(b"person|0123456789").hexdigest()
    assert p.person("0123456789")[1:] != plain[:20]


def test_two_keys_give_disjoint_pseudonyms():
    v_numbers = sorted(set(oracle_episodes(2020_11_01)["person_id"]))
    assert len(v_numbers) > 2000
    a, b = Pseudonymiser("key-a"), Pseudonymiser("key-b")
    under_a = {a.person(v) for v in v_numbers}
    under_b = {b.person(v) for v in v_numbers}
    assert len(under_a) == len(under_b) == len(v_numbers)  # no collisions either
    assert not under_a & under_b
    assert not {a.episode("utrecht", v) for v in v_numbers[:200]} & {
        b.episode("utrecht", v) for v in v_numbers[:200]
    }


def test_the_demo_key_is_refused_for_data_the_demo_did_not_write(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    (raw / "utrecht" / "2020-10").mkdir(parents=True)
    (raw / "utrecht" / "2020-10" / "export.xlsx").write_bytes(b"real register")
    monkeypatch.setenv(KEY_ENV, DEMO_KEY)
    with pytest.raises(SettingsError, match="demo's published key"):
        pseudonym_key(raw)
    monkeypatch.setenv(KEY_ENV, "the-programme-secret")
    assert pseudonym_key(raw) == ("the-programme-secret", False)


def test_the_demo_key_set_by_hand_is_accepted_only_where_lvv_demo_wrote(tmp_path, monkeypatch):
    """A tester adds a hand-made delivery to the demo (docs/operations.md): with the demo key set
    explicitly it runs; without a key it is not the demo's own data and refuses."""
    from lvv.demo import write_demo

    raw = tmp_path / "raw"
    write_demo(raw)
    extra = raw / "utrecht" / "2022-08" / "export.xlsx"
    extra.parent.mkdir(parents=True)
    extra.write_bytes(b"a hand-made delivery")
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(SettingsError, match="not set"):
        pseudonym_key(raw)
    monkeypatch.setenv(KEY_ENV, DEMO_KEY)
    assert pseudonym_key(raw) == (DEMO_KEY, False)


@pytest.mark.parametrize("key", ["k", "sleutel-ß-€", "y" * 64, "x" * 65, b"\x00\xff" * 50])
def test_each_pseudonym_is_the_hmac_of_its_text_alone(key):
    """The key's HMAC states (inner and outer, protect.keyed_states) are made once and copied for each text: every pseudonym is still the
    HMAC-SHA256 of its own text (none carries the texts hashed before it), under keys the demo never
    uses (one character, not ASCII, longer than SHA-256's block, bytes)."""
    import hmac

    raw_key = key.encode("utf-8") if isinstance(key, str) else key
    p = Pseudonymiser(key)
    texts = ["0123456789", "V 6652.327.800", "", "één", "0123456789 ", "\u00a0", "1" * 500]
    for text in texts + texts[::-1]:
        expected = hmac.new(raw_key, f"person|{text.strip()}".encode("utf-8"), hashlib.sha256).hexdigest()
        assert p.person(text) == "P" + expected[:20]
        expected = hmac.new(raw_key, f"episode|gouda|{text.strip()}".encode("utf-8"), hashlib.sha256).hexdigest()
        assert p.episode("gouda", text) == "E" + expected[:20]
    copy = pickle.loads(pickle.dumps(p))  # as a Dask worker gets it
    assert [copy.person(t + "x") for t in texts] == [Pseudonymiser(key).person(t + "x") for t in texts]


@pytest.mark.parametrize("key", ["k", "sleutel-ß-€", "x" * 65])
def test_a_list_of_identifiers_gets_each_ones_own_pseudonym(key):
    """persons() and episodes() (a batch's distinct identifiers in one loop, transforms.delivery)
    give what person() and episode() give one by one, computed before or not, in any order, under
    the same key; and nothing of one text carries over to the next."""
    import hmac

    raw_key = key.encode("utf-8")
    texts = ["0123456789", " 0123456789 ", "V 6652.327.800", "٠١٢٣٤٥٦٧٨٩", "１２３", "", " ", "\u00a0x\u2009",
             "één", "a|b", "1" * 5000, "0123456789", "\x1c7\x1f", "R\u0301"]
    fresh = Pseudonymiser(key)
    assert fresh.persons(texts) == [Pseudonymiser(key).person(t) for t in texts]
    assert fresh.episodes("den-haag", texts) == [Pseudonymiser(key).episode("den-haag", t) for t in texts]
    warm = Pseudonymiser(key)
    half = texts[::2]
    assert [warm.person(t) for t in half] == warm.persons(half)  # known ones and new ones mixed below
    assert warm.persons(texts[::-1]) == [Pseudonymiser(key).person(t) for t in texts[::-1]]
    assert warm.episodes("gouda", texts) == [
        "E" + hmac.new(raw_key, f"episode|gouda|{t.strip()}".encode("utf-8"), hashlib.sha256).hexdigest()[:20]
        for t in texts]
    assert warm.persons([]) == [] and warm.episodes("gouda", []) == []
