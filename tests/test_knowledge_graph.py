"""Grader for the `knowledge_graph` kata: linking, inverse relations, paths, prompt subgraphs.

One small world, built below, carries the worked examples; every expected edge list and path is
read off the numbered triples by hand.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kata.check import assert_equal, call

#  0 (Paris, capital_of, France)        capital_of ↔ has_capital
#  1 (France, located_in, Europe)       located_in has no inverse
#  2 (Seine, flows_through, Paris)      flows_through has no inverse
#  3 (Emmanuel Macron, president_of, France)   president_of ↔ has_president
#  4 (Paris, located_in, Europe)
#  5 (France, borders, Spain)           borders is its own inverse
#  6 (Spain, located_in, Europe)
TRIPLES = [("Paris", "capital_of", "France"), ("France", "located_in", "Europe"),
           ("Seine", "flows_through", "Paris"), ("Macron", "president_of", "french republic"),
           ("Paris", "located_in", "Europe"), ("France", "borders", "Spain"),
           ("Spain", "located_in", "Europe")]
EM = "Emmanuel Macron"


def _world(impl):
    kg = call(impl.KnowledgeGraph)
    kg.add_entity("France", aliases=["French Republic", "法国"])
    kg.add_entity("Paris", aliases=["巴黎"])
    kg.add_entity(EM, aliases=["Macron"])
    kg.add_entity("Paris Saint-Germain", aliases=["PSG"])
    kg.add_inverse("capital_of", "has_capital")
    kg.add_inverse("president_of", "has_president")
    kg.add_inverse("borders", "borders")
    for triple in TRIPLES:
        assert call(kg.add_triple, *triple) is True, f"add_triple{triple} is a new fact"
    return kg


# ---------------------------------------------------------------- worked examples


def test_link_by_name_and_alias(impl):
    kg = _world(impl)
    for mention, expected in [("France", "France"), ("the french republic", None),
                              ("  French   REPUBLIC ", "France"), ("法国", "France"),
                              ("macron", EM), ("Lyon", None), ("Seine", "Seine")]:
        assert call(kg.link, mention) == expected, (
            f"link({mention!r}) should be {expected!r} (casefold, collapse whitespace; "
            "new entities from add_triple are linkable by their name)")


def test_link_text_finds_longest_mentions_in_order(impl):
    kg = _world(impl)
    text = "Did Macron visit the PSG stadium in Paris, capital of the French Republic? Paris!"
    assert_equal(call(kg.link_text, text), [EM, "Paris Saint-Germain", "Paris", "France"],
                 what=f"link_text({text!r}): each entity once, in order of first mention")
    assert_equal(call(kg.link_text, "Paris Saint-Germain won"), ["Paris Saint-Germain"],
                 what="the longest surface form wins over its prefix 'Paris'")
    assert_equal(call(kg.link_text, "Parisian food, 2Paris, Paris2"), [],
                 what="a form glued to ASCII letters or digits is not a mention")
    assert_equal(call(kg.link_text, "巴黎是法国的首都吗？"), ["Paris", "France"],
                 what="Chinese text without spaces")
    assert_equal(call(kg.link_text, "Macron heads the French\nrepublic;  PSG   plays in PARIS"),
                 [EM, "France", "Paris Saint-Germain", "Paris"],
                 what="the text is normalised first: a line break inside 'French Republic', "
                      "upper case 'PARIS'")


def test_edges_include_declared_inverses_only(impl):
    kg = _world(impl)
    assert_equal(call(kg.edges, "France"),
                 [("France", "has_capital", "Paris"),       # 0, through the inverse
                  ("France", "located_in", "Europe"),       # 1
                  ("France", "has_president", EM),          # 3, through the inverse
                  ("France", "borders", "Spain")],          # 5
                 what="edges('France') in triple order")
    assert_equal(call(kg.edges, "Paris"), [("Paris", "capital_of", "France"),
                                           ("Paris", "located_in", "Europe")],
                 what="edges('Paris'): flows_through has no inverse, so Seine is not reachable")
    assert_equal(call(kg.edges, "Europe"), [], what="edges('Europe'): located_in is one-way")
    assert_equal(call(kg.edges, "Spain"), [("Spain", "borders", "France"),
                                           ("Spain", "located_in", "Europe")],
                 what="edges('Spain'): borders is its own inverse")


def test_edge_implied_twice_is_listed_once(impl):
    # Both directions stored before the inverse is declared: each stored triple implies the
    # other's edge, and edges() lists an edge equal to an earlier one once.
    kg = call(impl.KnowledgeGraph)
    assert call(kg.add_triple, "Louvre", "located_in", "Paris") is True
    assert call(kg.add_triple, "Paris", "contains", "Louvre") is True, "no inverse declared yet"
    kg.add_inverse("located_in", "contains")
    assert_equal(call(kg.edges, "Louvre"), [("Louvre", "located_in", "Paris")],
                 what="edges('Louvre'): stored, then the same edge through 'contains' (once)")
    assert_equal(call(kg.edges, "Paris"), [("Paris", "contains", "Louvre")],
                 what="edges('Paris'): through the inverse of triple 0, then stored (once)")


def test_fact_stated_through_its_inverse_is_not_new(impl):
    kg = _world(impl)
    assert call(kg.add_triple, "法国", "has_capital", "巴黎") is False, (
        "(France, has_capital, Paris) is the inverse of stored triple 0: not a new fact")
    assert call(kg.add_triple, "PARIS", "capital_of", "France") is False, "triple 0 again"
    assert call(kg.add_triple, "Europe", "contains", "France") is True, "a new relation"
    assert call(kg.add_triple, "Spain", "borders", "France") is False, "borders is symmetric"
    assert call(kg.add_triple, "Lyon", "located_in", "France") is True, "Lyon becomes an entity"
    assert call(kg.link, "lyon") == "Lyon", "a new mention becomes an entity named by it"
    assert kg.triples.count(("Paris", "capital_of", "France")) == 1, "stored once"


def test_paths_shortest_first_then_by_edge_order(impl):
    kg = _world(impl)
    expected = [
        [(EM, "president_of", "France"), ("France", "located_in", "Europe")],
        [(EM, "president_of", "France"), ("France", "has_capital", "Paris"),
         ("Paris", "located_in", "Europe")],
        [(EM, "president_of", "France"), ("France", "borders", "Spain"),
         ("Spain", "located_in", "Europe")],
    ]
    assert_equal(call(kg.find_paths, "Macron", "Europe", 3), expected,
                 what="find_paths('Macron', 'Europe', 3): the 2-hop path, then the 3-hop paths "
                      "in the order of France's edges (has_capital before borders)")
    assert_equal(call(kg.find_paths, "Macron", "Europe", 2), expected[:1],
                 what="max_hops=2 keeps the 2-hop path only")
    assert_equal(call(kg.find_paths, "Macron", "Europe", 3, limit=2), expected[:2],
                 what="limit=2 keeps the first two")


def test_paths_are_simple_and_directed(impl):
    kg = _world(impl)
    assert_equal(call(kg.find_paths, "巴黎", "法国", 1), [[("Paris", "capital_of", "France")]],
                 what="find_paths('巴黎', '法国', 1)")
    # Paris → France → Spain → France would revisit France: not a simple path.
    assert_equal(call(kg.find_paths, "Paris", "Spain", 4),
                 [[("Paris", "capital_of", "France"), ("France", "borders", "Spain")]],
                 what="find_paths('Paris', 'Spain', 4)")
    assert_equal(call(kg.find_paths, "Europe", "Paris", 5), [],
                 what="located_in cannot be followed backwards")
    assert_equal(call(kg.find_paths, "Seine", "Seine", 0), [[]], what="source == target")
    assert_equal(call(kg.find_paths, "Paris", "France", 0), [], what="max_hops=0")


def test_every_shortest_path_is_found(impl):
    # A diamond: two equal 2-hop routes. Search that marks entities visited for good finds one.
    kg = call(impl.KnowledgeGraph)
    for triple in [("A", "r", "B"), ("A", "r", "C"), ("B", "r", "D"), ("C", "r", "D"),
                   ("D", "r", "E")]:
        call(kg.add_triple, *triple)
    assert_equal(call(kg.find_paths, "A", "E", 3),
                 [[("A", "r", "B"), ("B", "r", "D"), ("D", "r", "E")],
                  [("A", "r", "C"), ("C", "r", "D"), ("D", "r", "E")]],
                 what="find_paths('A', 'E', 3) through both sides of a diamond")


def test_subgraph_breadth_first_in_stored_form(impl):
    kg = _world(impl)
    assert_equal(call(kg.subgraph, ["Paris"], 1),
                 [("Paris", "capital_of", "France"), ("Paris", "located_in", "Europe")],
                 what="subgraph(['Paris'], 1)")
    # hops=2: then France (reached first), then Europe. France's edges add triples 1, 3, 5 in
    # stored form (triple 0 is taken already); Europe has no edges.
    assert_equal(call(kg.subgraph, ["Paris"], 2),
                 [("Paris", "capital_of", "France"), ("Paris", "located_in", "Europe"),
                  ("France", "located_in", "Europe"), (EM, "president_of", "France"),
                  ("France", "borders", "Spain")],
                 what="subgraph(['Paris'], 2)")
    assert_equal(call(kg.subgraph, ["法国", "Macron"], 1),
                 [("Paris", "capital_of", "France"), ("France", "located_in", "Europe"),
                  (EM, "president_of", "France"), ("France", "borders", "Spain")],
                 what="subgraph(['法国', 'Macron'], 1): Macron's only edge is taken already")
    assert_equal(call(kg.subgraph, ["Paris"], 0), [], what="hops=0")


def test_to_prompt(impl):
    kg = _world(impl)
    expected = ("Knowledge graph facts:\n(Paris, capital_of, France)\n"
                "(Paris, located_in, Europe)")
    assert_equal(call(kg.to_prompt, ["巴黎"], 1), expected, what="to_prompt(['巴黎'], 1)")
    assert_equal(call(kg.to_prompt, ["Europe"], 3), "",
                 what="to_prompt for an entity without edges is empty")


# ---------------------------------------------------------------- properties

names = ["A", "B", "C", "D", "E"]
relations = ["r", "s", "t"]
graphs = st.lists(st.tuples(st.sampled_from(names), st.sampled_from(relations),
                            st.sampled_from(names)), max_size=10)
inverses = st.sampled_from([{}, {"r": "r_inv"}, {"s": "s"}, {"r": "t"}])


def _graph(module, triples, inverse, record=True):
    kg = call(module.KnowledgeGraph) if record else module.KnowledgeGraph()
    for relation, other in inverse.items():
        kg.add_inverse(relation, other)
    added = [call(kg.add_triple, *t) if record else kg.add_triple(*t) for t in triples]
    for name in names:
        if kg.link(name) is None:
            kg.add_entity(name)
    return kg, added


@given(triples=graphs, inverse=inverses, source=st.sampled_from(names),
       target=st.sampled_from(names), max_hops=st.integers(0, 4))
def test_paths_are_valid_simple_and_shortest_first(impl, triples, inverse, source, target,
                                                    max_hops):
    kg, _ = _graph(impl, triples, inverse)
    paths = call(kg.find_paths, source, target, max_hops)
    assert [len(p) for p in paths] == sorted(len(p) for p in paths), "shortest paths first"
    assert len({tuple(p) for p in paths}) == len(paths), f"a path is listed twice: {paths}"
    for path in paths:
        assert len(path) <= max_hops, f"{path} is longer than max_hops={max_hops}"
        here, seen = source, [source]
        for edge in path:
            assert edge[0] == here and edge in call(kg.edges, here), (
                f"{edge} is not an edge from {here!r} in path {path}")
            here = edge[2]
            assert here not in seen, f"path {path} visits {here!r} twice"
            seen.append(here)
        assert here == target, f"path {path} must end at {target!r}"


@given(triples=graphs, inverse=inverses)
def test_inverse_edges_mirror_stored_triples(impl, triples, inverse):
    kg, _ = _graph(impl, triples, inverse)
    for subject, relation, object in kg.triples:
        assert (subject, relation, object) in call(kg.edges, subject), "a stored triple's edge"
        if relation in kg.inverse:
            mirrored = (object, kg.inverse[relation], subject)
            assert mirrored in call(kg.edges, object), f"{mirrored} is implied by the inverse"
            assert call(kg.add_triple, *mirrored) is False, f"{mirrored} is not a new fact"


@given(triples=graphs, inverse=inverses, seeds=st.lists(st.sampled_from(names), min_size=1,
                                                        max_size=3), hops=st.integers(0, 3))
def test_subgraph_grows_by_appending_with_hops(impl, triples, inverse, seeds, hops):
    kg, _ = _graph(impl, triples, inverse)
    smaller, larger = call(kg.subgraph, seeds, hops), call(kg.subgraph, seeds, hops + 1)
    assert larger[:len(smaller)] == smaller, (
        f"subgraph(hops={hops}) = {smaller} must be a prefix of subgraph(hops={hops + 1}) = "
        f"{larger} (breadth-first)")
    assert all(t in kg.triples for t in larger), "the subgraph holds stored triples only"
    assert len(set(larger)) == len(larger), "each triple once"


# ---------------------------------------------------------------- agreement with the reference


@given(triples=graphs, inverse=inverses, source=st.sampled_from(names),
       target=st.sampled_from(names), max_hops=st.integers(0, 4),
       seeds=st.lists(st.sampled_from(names), min_size=1, max_size=3), hops=st.integers(0, 3))
def test_matches_reference(impl, ref, triples, inverse, source, target, max_hops, seeds, hops):
    kg, added = _graph(impl, triples, inverse)
    expected_kg, expected_added = _graph(ref, triples, inverse, record=False)
    assert_equal(added, expected_added, what=f"add_triple results for {triples}")
    assert_equal(call(kg.find_paths, source, target, max_hops),
                 expected_kg.find_paths(source, target, max_hops),
                 what=f"find_paths({source!r}, {target!r}, {max_hops}) on {triples}, {inverse}")
    assert_equal(call(kg.to_prompt, seeds, hops), expected_kg.to_prompt(seeds, hops),
                 what=f"to_prompt({seeds}, {hops}) on {triples}, {inverse}")


# ---------------------------------------------------------------- bad input


def test_unknown_mentions_and_limits(impl):
    kg = _world(impl)
    assert call(kg.find_paths, "Paris", "France", 1, limit=1), "limit=1 is valid"
    assert call(kg.find_paths, "Paris", "France", 0) == [], "max_hops=0 is valid: no path"
    assert call(kg.find_paths, "Paris", "巴黎", 0) == [[]], "max_hops=0 from Paris to itself"
    for args, options in [(("Lyon", "France", 2), {}), (("Paris", "Lyon", 2), {}),
                          (("Paris", "France", -1), {}), (("Paris", "France", 2), {"limit": 0}),
                          (("Paris", "巴黎", -1), {}), (("Paris", "Paris", 2), {"limit": 0})]:
        with pytest.raises(ValueError):
            call(kg.find_paths, *args, **options)
    with pytest.raises(ValueError):
        call(kg.edges, "Atlantis")
    with pytest.raises(ValueError):
        call(kg.subgraph, ["Paris", "Atlantis"], 1)
    with pytest.raises(ValueError):
        call(kg.subgraph, ["Paris"], -1)
    for triple in [("", "r", "Paris"), ("Paris", " ", "France"), ("Paris", "r", "")]:
        with pytest.raises(ValueError):
            call(kg.add_triple, *triple)
