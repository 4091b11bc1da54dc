from my_library.__main__ import main


def test_cli_prints_the_greeting(capsys) -> None:
    assert main(["Ada"]) == 0
    assert capsys.readouterr().out == "Hello, Ada!\n"


def test_cli_needs_exactly_one_name() -> None:
    assert main([]) == 2
