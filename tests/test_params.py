"""Params files cannot carry code: only plain values, no YAML tags or aliases, every value a plain literal."""
import base64

import pytest

from kdlib import params, reproduce


def write(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_plain_overrides_pass(tmp_path):
    path = write(tmp_path, "park2022:\n  overrides: {seeds: [0, 1], cifar100: {teacher_seed: 3}}\n")
    assert reproduce.read_params(path, ["park2022"]) == {"park2022": {"overrides": {"seeds": [0, 1], "cifar100": {"teacher_seed": 3}}}}


@pytest.mark.parametrize("text, message", [
    ("park2022: {overrides: !!binary " + base64.b64encode(b'";__import__("os").system("touch /tmp/pwned");"').decode() + "}",
     "YAML tag tag:yaml.org,2002:binary is not allowed"),
    ("park2022: {overrides: !!set {a, b}}", "YAML tag tag:yaml.org,2002:set is not allowed"),
    ("park2022: {overrides: !!python/object/apply:os.system [echo]}", "not allowed"),
    ("a: &a [1, 2]\nb: [*a, *a]", "anchors and aliases"),
    ("park2022: {overrides: [1, 2}", "not valid YAML at line 1"),
    ("park2022: {overrides: {seeds: .nan}}", "not a finite number"),
    ("park2022: {overrides: {1: 2}}", "key 1 is not a string"),
    ("- a\n- b", "expected a mapping"),
])
def test_anything_but_plain_data_is_one_clear_error(tmp_path, text, message):
    with pytest.raises(params.ParamsError, match=message):
        params.load(write(tmp_path, text))


def test_an_alias_bomb_is_refused_before_it_grows(tmp_path, capsys):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    path = write(tmp_path, bomb)
    assert len(bomb) < 400
    assert reproduce.main(["--profile", "smoke", "--params", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "anchors and aliases" in err


def test_a_value_must_come_back_as_the_same_literal():
    params.check_literal("overrides", {"seeds": [0, 1], "name": 'it"s\n'})
    with pytest.raises(params.ParamsError, match="plain literal"):
        params.check_literal("overrides", b'";__import__("os")')
