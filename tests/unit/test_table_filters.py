"""The raw queries the purge sends carry their parameters as OData literals that cannot be escaped from."""

from __future__ import annotations

import pytest

from functions.adapters.table_batch import odata_filter


def test_text_parameters_become_quoted_literals() -> None:
    assert odata_filter("PartitionKey eq @pk", {"pk": "t_u"}) == "PartitionKey eq 't_u'"


def test_a_quote_in_a_value_is_doubled_so_the_literal_cannot_end_early() -> None:
    text = odata_filter("RowKey eq @rk", {"rk": "x' or PartitionKey ne 'y"})
    assert text == "RowKey eq 'x'' or PartitionKey ne ''y'"


def test_longer_names_are_not_mistaken_for_shorter_ones() -> None:
    assert odata_filter("a eq @p and b eq @pk", {"p": "1", "pk": "2"}) == "a eq '1' and b eq '2'"


def test_numbers_and_booleans_are_literals_of_their_own() -> None:
    assert odata_filter("n eq @n and f eq @f", {"n": 3, "f": False}) == "n eq 3 and f eq false"


def test_a_parameter_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="no OData literal"):
        odata_filter("x eq @x", {"x": 1.5})
