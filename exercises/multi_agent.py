"""Multi-agent group chat: roles, a typed message protocol, speaker selection, critique, voting.

Task:
    Write the coordinator of a small multi-agent system (interview guide §4.4: roles,
    communication protocol, coordination and consensus). `check_message` enforces the protocol
    on what an agent sends; `stances` reads each voter's current position from the transcript;
    `GroupChat.next_speaker` picks who speaks (round-robin or a selector, and a critic's
    critique sends the work back to its author); `GroupChat.run` runs the conversation until a
    majority of voters agree or the turn limit is hit, and returns the full transcript.

Rules:
    Plain Python. No autogen / crewai / langgraph / camel.

Protocol:
    Message(id, sender, recipient, kind, content, reply_to): ids count 0, 1, 2, ... in the
    transcript; recipient is an agent name or "all". Kinds: "task" (id 0, from "user"),
    "proposal" (an answer; its content is the sender's stance), "vote" (for the content of an
    earlier proposal; becomes the sender's stance), "critique" (replies to another agent's
    proposal and sends it back), "error" (from "coordinator", to an agent whose reply broke the
    protocol). An agent is a callable inbox → reply dict {"recipient", "kind", "content",
    "reply_to" (optional)}; tests use scripted agents:

        >>> a, b = ScriptedAgent([{"recipient": "all", "kind": "proposal", "content": "4"}]), \\
        ...        ScriptedAgent([{"recipient": "all", "kind": "vote", "content": "4"}])
        >>> chat = GroupChat([Agent("a", "solver", a), Agent("b", "solver", b)])
        >>> result = chat.run("2 + 2?")
        >>> [(m.id, m.sender, m.kind, m.content) for m in result.transcript]
        [(0, 'user', 'task', '2 + 2?'), (1, 'a', 'proposal', '4'), (2, 'b', 'vote', '4')]
        >>> result.status, result.answer, result.turns
        ('consensus', '4', 2)

Reference:
    Wu et al. 2023, "AutoGen" (GroupChat with round-robin and model-selected speakers); Du et
    al. 2023, "Improving Factuality and Reasoning through Multiagent Debate" (agreement by
    vote); Madaan et al. 2023, "Self-Refine" (critique and revision); FIPA ACL for typed
    messages with reply-to.

Notable choices:
    - Consensus is a strict majority of *all* voters (agents whose role is not "critic"), not of
      those who have spoken: 2 of 4 is not a majority.
    - A critique withdraws the criticised proposal as its author's stance until the author
      speaks again; critics never vote.
    - A reply that breaks the protocol costs its turn: the coordinator answers with an error
      message and the conversation goes on.
    - At the turn limit the answer is the plurality stance; ties go to the option that became a
      stance first in the transcript.

Grade: nox -s multi_agent
"""

from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = ("proposal", "vote", "critique")  # what agents may send
RESERVED = ("all", "user", "coordinator")  # names no agent may take


@dataclass(frozen=True)
class Message:
    id: int
    sender: str
    recipient: str
    kind: str
    content: str
    reply_to: int | None = None


@dataclass
class Agent:
    name: str
    role: str  # "critic" agents critique and never vote; any other role votes
    respond: Callable[[list[Message]], dict]


@dataclass
class ChatResult:
    status: str  # "consensus" or "max_turns"
    answer: str | None  # the agreed (or, at the limit, plurality) stance; None without stances
    transcript: list[Message]
    turns: int  # agent turns taken


class ProtocolError(ValueError):
    """An agent's reply breaks the protocol; the message says how."""


@dataclass
class ScriptedAgent:
    """A fake agent: returns `replies` in order and records every inbox it was given; one turn
    more than scripted raises AssertionError."""
    replies: list[dict]
    inboxes: list[list[Message]] = field(default_factory=list)

    def __call__(self, inbox: list[Message]) -> dict:
        assert len(self.inboxes) < len(self.replies), "the agent spoke more often than scripted"
        self.inboxes.append(list(inbox))
        return dict(self.replies[len(self.inboxes) - 1])


def check_message(reply: dict, sender: str, transcript: list[Message],
                  names: list[str]) -> Message:
    """The Message that `reply` from `sender` becomes: id = len(transcript).

    A valid reply is a dict with str "recipient", "kind" and "content" and an optional
    "reply_to" (None or the int id of a message in the transcript; a bool is not an id), where
    the recipient is "all" or another agent's name (not the sender), the kind is one of KINDS, a
    "vote"'s content equals the content of an earlier proposal, and a "critique" replies to a
    proposal sent by another agent.

    Raises:
        ProtocolError: the first rule the reply breaks, named in the message.
    """
    # TODO: implement this (about 19 lines in the reference).
    raise NotImplementedError(
        "check_message: not written yet. Stuck? nox -s hint -- multi_agent"
    )


def stances(transcript: list[Message], voters: list[str]) -> dict[str, str]:
    """Each voter's current stance: the content of its latest proposal or vote, unless a
    critique replying to that very message comes after it (the work was sent back). Voters
    without a stance are left out; keys in `voters` order."""
    # TODO: implement this (about 9 lines in the reference).
    raise NotImplementedError(
        "stances: not written yet. Stuck? nox -s hint -- multi_agent"
    )


class GroupChat:
    def __init__(self, agents: list[Agent], *, mode: str = "round_robin",
                 selector: Callable[[list[Message], list[str]], str] | None = None,
                 max_turns: int = 10) -> None:
        """
        Args:
            agents: in speaking order; unique names, none of RESERVED; at least one voter.
            mode: "round_robin" or "selector".
            selector: (transcript, names) → the next speaker's name; required for "selector".
            max_turns: the most agent turns (the round limit), >= 1.

        Raises:
            ValueError: any rule above broken.
        """
        names = [agent.name for agent in agents]
        if (len(set(names)) != len(names) or any(name in RESERVED for name in names)
                or not any(agent.role != "critic" for agent in agents)):
            raise ValueError(f"agents {names}: names must be unique, not {RESERVED}, and at least "
                             "one agent must be a voter (role other than 'critic')")
        if mode not in ("round_robin", "selector") or (mode == "selector" and selector is None):
            raise ValueError(f"mode={mode!r}: use 'round_robin', or 'selector' with a selector")
        if max_turns < 1:
            raise ValueError(f"max_turns={max_turns} must be >= 1")
        self.agents = {agent.name: agent for agent in agents}
        self.names, self.mode, self.selector, self.max_turns = names, mode, selector, max_turns
        self.voters = [agent.name for agent in agents if agent.role != "critic"]

    def next_speaker(self, transcript: list[Message], previous: str | None) -> str:
        """Who speaks next, given the transcript and the agent whose turn was last (None at
        the start).

        1. The last message is a critique → the sender of the proposal it replies to.
        2. "round_robin" → the agent after `previous` in agent order, wrapping around (the
           first agent when previous is None).
        3. "selector" → selector(transcript, names); a name that is not an agent's falls back
           to the round-robin choice.
        """
        # TODO: implement this (about 10 lines in the reference).
        raise NotImplementedError(
            "next_speaker: not written yet. Stuck? nox -s hint -- multi_agent"
        )

    def run(self, task: str) -> ChatResult:
        """Run the conversation on `task`.

        transcript = [Message(0, "user", "all", "task", task)]. Each turn: pick the speaker;
        give it its inbox (the messages whose recipient is it or "all", or whose sender is it, in
        order); `check_message` its reply and append the Message, or on ProtocolError append
        Message(id, "coordinator", speaker, "error", str(error)). After an accepted message, if
        some stance is held by more than half of all voters, return ChatResult("consensus",
        that stance, transcript, turns). After max_turns turns: ChatResult("max_turns",
        plurality stance or None, transcript, max_turns), ties to the option that became a
        stance first (the earliest proposal or vote by a voter with that content).
        """
        # TODO: implement this (about 28 lines in the reference).
        raise NotImplementedError(
            "run: not written yet. Stuck? nox -s hint -- multi_agent"
        )
