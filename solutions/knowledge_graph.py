"""Knowledge graph for RAG: triples, entity linking by alias, inverse relations, multi-hop paths.

Task:
    Write the knowledge-graph side of knowledge-augmented generation (interview guide §2.3). A
    `KnowledgeGraph` stores (subject, relation, object) triples between canonical entities.
    `link` and `link_text` map mentions ("the French Republic", "法国") to entities;
    `add_triple` stores a fact once (also when it arrives stated through its inverse); `edges`
    lists what can be followed from an entity, inverse relations included; `find_paths` answers
    multi-hop questions breadth-first, shortest paths first; `subgraph` and `to_prompt` turn the
    neighbourhood of the question's entities into prompt text for the model.

Rules:
    Plain Python (collections, re allowed). No networkx, rdflib, langchain / llama_index graph
    stores.

Formats:
    A triple is a tuple (subject, relation, object) of str. An edge, as followed from an entity
    e, is a triple (e, relation, other): stored as (e, relation, other), or stored as
    (other, r, e) with a declared inverse relation = inverse(r). A path is a list of edges, each
    starting where the previous one ended.

        >>> kg = KnowledgeGraph()
        >>> kg.add_entity("France", aliases=["French Republic", "法国"]); kg.add_entity("Paris")
        >>> kg.add_inverse("capital_of", "has_capital")
        >>> kg.add_triple("Paris", "capital_of", "french republic")
        True
        >>> kg.edges("法国")
        [('France', 'has_capital', 'Paris')]
        >>> kg.to_prompt(["Paris"], hops=1)
        'Knowledge graph facts:\\n(Paris, capital_of, France)'

Reference:
    Pan et al. 2024, "Unifying Large Language Models and Knowledge Graphs: A Roadmap" (KG-
    augmented generation); Edge et al. 2024, "From Local to Global: A Graph RAG Approach";
    breadth-first search as in CLRS §22.2; inverse properties as in OWL (owl:inverseOf).

Notable choices:
    - Mentions are normalised by casefold() and collapsing whitespace; a surface form names one
      entity only.
    - Relations are directed; only a declared inverse can be followed backwards.
    - Paths are simple (no entity twice); equal-length paths come in the order of their edges.

Grade: nox -s knowledge_graph
"""

from collections import deque

HEADER = "Knowledge graph facts:"
FACT = "({subject}, {relation}, {object})"


def normalise(mention: str) -> str:
    """The lookup form of a mention: casefolded, whitespace runs collapsed, ends stripped."""
    return " ".join(mention.casefold().split())


def _is_word_char(char: str) -> bool:
    return char.isascii() and char.isalnum()


class KnowledgeGraph:
    def __init__(self) -> None:
        self.forms: dict[str, str] = {}  # normalised name or alias → canonical entity
        self.inverse: dict[str, str] = {}  # relation → its inverse (both directions)
        self.triples: list[tuple[str, str, str]] = []  # stored facts, in insertion order

    def add_entity(self, name: str, aliases: list[str] = ()) -> None:
        """Register entity `name` (its canonical name) and its aliases.

        Raises:
            ValueError: an empty name or alias, or one whose normalised form already names
                another entity.
        """
        for form in [name, *aliases]:
            key = normalise(form)
            if not key or self.forms.get(key, name) != name:
                raise ValueError(f"{form!r} is empty or already names {self.forms.get(key)!r}; "
                                 "a surface form may name one entity only")
        for form in [name, *aliases]:
            self.forms[normalise(form)] = name

    def add_inverse(self, relation: str, inverse: str) -> None:
        """Declare that (s, relation, o) implies (o, inverse, s) and the reverse. A relation may
        be its own inverse ("sibling_of")."""
        self.inverse[relation], self.inverse[inverse] = inverse, relation

    def link(self, mention: str) -> str | None:
        """The canonical entity that `mention` names (as a name or an alias, compared by
        `normalise`), or None."""
        # BEGIN SOLUTION
        return self.forms.get(normalise(mention))
        # END SOLUTION

    def link_text(self, text: str) -> list[str]:
        """The entities mentioned in free text, each once, in order of first mention.

        Scan normalise(text) left to right; at each position take the longest surface form
        (normalised name or alias) found there whose neighbours are not ASCII letters or digits
        (so "Paris" is not found in "Parisian", while "法国" is found in "法国的首都"); continue
        after it. With no match, move on one character.
        """
        # BEGIN SOLUTION
        text = normalise(text)
        found, position = [], 0
        forms = sorted(self.forms, key=len, reverse=True)
        while position < len(text):
            for form in forms:
                end = position + len(form)
                if (text.startswith(form, position)
                        and not (position > 0 and _is_word_char(text[position - 1]))
                        and not (end < len(text) and _is_word_char(text[end]))):
                    if self.forms[form] not in found:
                        found.append(self.forms[form])
                    position = end
                    break
            else:
                position += 1
        return found
        # END SOLUTION

    def add_triple(self, subject: str, relation: str, object: str) -> bool:
        """Store a fact; True if it is new.

        Subject and object are linked with `link`; a mention that names no entity becomes a new
        entity with that name. The fact is not new (nothing is stored, False) when the same
        triple is stored, or when (object, inverse(relation), subject) is.

        Raises:
            ValueError: an empty subject, relation or object.
        """
        # BEGIN SOLUTION
        if not subject.strip() or not relation.strip() or not object.strip():
            raise ValueError(f"triple ({subject!r}, {relation!r}, {object!r}) has an empty part")
        ends = []
        for mention in (subject, object):
            entity = self.link(mention)
            if entity is None:
                self.add_entity(mention)
                entity = mention
            ends.append(entity)
        triple = (ends[0], relation, ends[1])
        mirrored = (ends[1], self.inverse.get(relation), ends[0])
        if triple in self.triples or mirrored in self.triples:
            return False
        self.triples.append(triple)
        return True
        # END SOLUTION

    def edges(self, mention: str) -> list[tuple[str, str, str]]:
        """The edges that can be followed from the entity `mention` names.

        For each stored triple (s, r, o), in insertion order: (e, r, o) if s is the entity e,
        then (e, inverse(r), s) if o is e and r has a declared inverse; an edge equal to an
        earlier one is listed once.

        Raises:
            ValueError: a mention that names no entity (the message names it).
        """
        # BEGIN SOLUTION
        entity = self._entity(mention)
        found = []
        for subject, relation, object in self.triples:
            candidates = []
            if subject == entity:
                candidates.append((entity, relation, object))
            if object == entity and relation in self.inverse:
                candidates.append((entity, self.inverse[relation], subject))
            found.extend(edge for edge in candidates if edge not in found)
        return found
        # END SOLUTION

    def _entity(self, mention: str) -> str:
        entity = self.link(mention)
        if entity is None:
            raise ValueError(f"{mention!r} names no entity; add it with add_entity or check "
                             "link_text's results")
        return entity

    def find_paths(self, source: str, target: str, max_hops: int,
                   limit: int | None = None) -> list[list[tuple[str, str, str]]]:
        """Every simple path (no entity twice) of at most max_hops edges from source to target.

        Shortest first; paths of equal length in the order of their edges: compare the first
        edges by their position in edges(source), then the second edges by their position in
        edges(their entity), and so on (the order in which breadth-first search finds them).
        A path ends at the target. source == target gives [[]]. At most `limit` paths (the first
        ones in this order) when limit is not None.

        Raises:
            ValueError: a mention that names no entity; max_hops < 0; limit < 1.
        """
        # BEGIN SOLUTION
        if max_hops < 0 or (limit is not None and limit < 1):
            raise ValueError(f"max_hops={max_hops} must be >= 0 and limit={limit} >= 1 or None")
        start, goal = self._entity(source), self._entity(target)
        if start == goal:
            return [[]]
        paths, queue = [], deque([(start, [], {start})])
        while queue and (limit is None or len(paths) < limit):
            entity, path, visited = queue.popleft()
            if len(path) == max_hops:
                continue
            for edge in self.edges(entity):
                following = edge[2]
                if following in visited:
                    continue
                if following == goal:
                    paths.append(path + [edge])
                else:
                    queue.append((following, path + [edge], visited | {following}))
        return paths if limit is None else paths[:limit]
        # END SOLUTION

    def subgraph(self, mentions: list[str], hops: int) -> list[tuple[str, str, str]]:
        """The stored triples within `hops` of the entities mentioned, for the prompt.

        Breadth-first from the entities of `mentions` (distance 0, in the given order, each
        once): for each entity at distance < hops, in the order they were reached, and each of
        its edges in order, the stored triple behind the edge (as stored, not as followed) is
        taken if not taken yet, and the edge's far entity, if not reached yet, is reached at
        distance + 1.

        Raises:
            ValueError: a mention that names no entity; hops < 0.
        """
        # BEGIN SOLUTION
        if hops < 0:
            raise ValueError(f"hops={hops} must be >= 0")
        seeds = list(dict.fromkeys(self._entity(mention) for mention in mentions))
        distance = {entity: 0 for entity in seeds}
        queue, taken = deque(seeds), []
        while queue:
            entity = queue.popleft()
            if distance[entity] >= hops:
                continue
            for near, relation, far in self.edges(entity):
                stored = (near, relation, far)
                if stored not in self.triples:  # followed through the inverse
                    stored = (far, self.inverse[relation], near)
                if stored not in taken:
                    taken.append(stored)
                if far not in distance:
                    distance[far] = distance[entity] + 1
                    queue.append(far)
        return taken
        # END SOLUTION

    def to_prompt(self, mentions: list[str], hops: int) -> str:
        """HEADER, then one FACT line per triple of subgraph(mentions, hops), joined with "\\n";
        "" when the subgraph is empty (so the caller can leave the section out)."""
        # BEGIN SOLUTION
        triples = self.subgraph(mentions, hops)
        if not triples:
            return ""
        lines = [FACT.format(subject=s, relation=r, object=o) for s, r, o in triples]
        return "\n".join([HEADER, *lines])
        # END SOLUTION
