"""Reading and checking assessment form schemas: sections of questions, answers by key, what is missing.

A schema is {"sections": [{"key", "title", "hint"?, "questions": [question, ...]}, ...]} where a question is
{"key", "type": "choice" | "text", "label", "hint"?, "required": bool, "options": [[value, label], ...]
(choice only), "group"?}. A question with a group is answered under answers[group][key], otherwise under
answers[key].
"""

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from portal.reviews.template_default import CRITERIA, DEFAULT_SCHEMA, EVIDENCE_ITEMS, SUPPORT

KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TYPES = ("choice", "text")
MAX_TEXT = 10_000
# The reports count these answers, so every template version must ask them (as choices).
REQUIRED_KEYS = (
    [("evidence", key) for key, _label, _hint in EVIDENCE_ITEMS]
    + [(None, key) for key, _label, _hint in CRITERIA]
    + [(None, "agreement")]
    + [(None, key) for key, _label, _hint in SUPPORT]
)
NOT_STARTED, IN_PROGRESS, COMPLETED = "Not started", "In progress", "Completed"
# Limits on the wording the form-based editor accepts: long enough for any real question, short enough to read.
MAX_TITLE = 200
MAX_LABEL = 300
MAX_HINT = 1_000
MAX_OPTION = 200
MAX_OPTIONS = 20
_DEFAULT_LABELS = {(q.get("group"), q["key"]): q["label"] for s in DEFAULT_SCHEMA["sections"] for q in s["questions"]}


@dataclass(frozen=True)
class Missing:
    """A required question left unanswered."""

    section_key: str
    section_title: str
    field_name: str
    label: str


def field_name(question: dict[str, Any]) -> str:
    """The HTML name (and id) of a question's input: unique within its template."""
    return f"{question['group']}-{question['key']}" if question.get("group") else question["key"]


def is_counted(question: dict[str, Any]) -> bool:
    """Whether the reports count this question's answers, so it must stay in every version as a choice."""
    return (question.get("group"), question["key"]) in REQUIRED_KEYS


def fingerprint(schema: dict[str, Any]) -> str:
    """A short digest of a schema, so an editor can tell that the template changed while it was open."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]


def new_key(label: str, taken: set[str]) -> str:
    """A key made from a label (lower case, underscores, matching KEY) that is not in `taken`."""
    stem = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:30].rstrip("_")
    if not stem or not stem[0].isalpha():
        stem = f"q_{stem}".rstrip("_")
    key, number = stem, 2
    while key in taken:
        key, number = f"{stem}_{number}", number + 1
    return key


def find_question(schema: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The (section, question) whose field name is `name`, or None."""
    for section in schema["sections"]:
        for question in section["questions"]:
            if field_name(question) == name:
                return section, question
    return None


def with_question(schema: dict[str, Any], section_key: str, question: dict[str, Any]) -> dict[str, Any]:
    """A copy of the schema with `question` added at the end of a section."""
    changed = copy.deepcopy(schema)
    next(s for s in changed["sections"] if s["key"] == section_key)["questions"].append(question)
    return changed


def without_question(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """A copy of the schema without the question whose field name is `name`."""
    changed = copy.deepcopy(schema)
    for section in changed["sections"]:
        section["questions"] = [q for q in section["questions"] if field_name(q) != name]
    return changed


def answer_of(answers: dict[str, Any], question: dict[str, Any]) -> str | None:
    """The stored answer to a question, or None."""
    holder = answers.get(question["group"], {}) if question.get("group") else answers
    value = holder.get(question["key"]) if isinstance(holder, dict) else None
    return value if isinstance(value, str) and value != "" else None


def set_answer(answers: dict[str, Any], question: dict[str, Any], value: str | None) -> None:
    """Store (or clear, for None or '') the answer to a question."""
    holder = answers.setdefault(question["group"], {}) if question.get("group") else answers
    if value:
        holder[question["key"]] = value
    else:
        holder.pop(question["key"], None)


def display(question: dict[str, Any], value: str | None) -> str:
    """An answer as people read it: the option's label for a choice."""
    if value is None:
        return "Not answered"
    if question["type"] == "choice":
        labels: dict[str, str] = dict((v, label) for v, label in question["options"])
        return labels.get(value, value)
    return value


def section_status(section: dict[str, Any], answers: dict[str, Any]) -> str:
    """Not started, In progress or Completed, from the answers given so far."""
    given = [answer_of(answers, q) is not None for q in section["questions"]]
    if not any(given):
        return NOT_STARTED
    required_done = all(answer_of(answers, q) is not None for q in section["questions"] if q.get("required"))
    return COMPLETED if required_done else IN_PROGRESS


def missing(sections: list[dict[str, Any]], answers: dict[str, Any]) -> list[Missing]:
    """Every required question without an answer, in form order."""
    return [
        Missing(section["key"], section["title"], field_name(q), q["label"])
        for section in sections
        for q in section["questions"]
        if q.get("required") and answer_of(answers, q) is None
    ]


def _question_errors(where: str, question: Any, seen: set[str]) -> list[str]:
    if not isinstance(question, dict):
        return [f"{where} must be an object"]
    errors = []
    key, group = question.get("key"), question.get("group")
    if not isinstance(key, str) or not KEY.match(key):
        errors.append(f"{where} needs a key of lower-case letters, digits and underscores, starting with a letter")
    if group is not None and (not isinstance(group, str) or not KEY.match(group)):
        errors.append(f"{where} has a group that is not a valid key")
    name = f"{group}-{key}" if group else str(key)
    if name in seen:
        errors.append(f"{where} repeats the key {name!r}")
    seen.add(name)
    if question.get("type") not in TYPES:
        errors.append(f"{where} needs a type of \"choice\" or \"text\"")
    if not isinstance(question.get("label"), str) or not question["label"].strip():
        errors.append(f"{where} needs a label")
    if "hint" in question and not isinstance(question["hint"], str):
        errors.append(f"{where} has a hint that is not text")
    if not isinstance(question.get("required", False), bool):
        errors.append(f"{where} has \"required\" that is not true or false")
    if question.get("type") == "choice":
        options = question.get("options")
        if (not isinstance(options, list) or len(options) < 2
                or not all(isinstance(o, list) and len(o) == 2 and all(isinstance(p, str) and p for p in o)
                           for o in options)):
            errors.append(f"{where} needs at least 2 options, each a [value, label] pair")
    return errors


def validate(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """Parse and check a schema; return (schema, []) or (None, every problem found, in plain words)."""
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as error:
        return None, [f"The template is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}"]
    if not isinstance(schema, dict) or not isinstance(schema.get("sections"), list) or not schema["sections"]:
        return None, ["The template must be an object with a non-empty list of \"sections\""]
    errors: list[str] = []
    section_keys: set[str] = set()
    names: set[str] = set()
    for number, section in enumerate(schema["sections"], start=1):
        where = f"Section {number}"
        if not isinstance(section, dict):
            errors.append(f"{where} must be an object")
            continue
        if not isinstance(section.get("key"), str) or not KEY.match(section["key"]) or section["key"] in section_keys:
            errors.append(f"{where} needs a unique key of lower-case letters, digits and underscores")
        section_keys.add(str(section.get("key")))
        if not isinstance(section.get("title"), str) or not section["title"].strip():
            errors.append(f"{where} needs a title")
        questions = section.get("questions")
        if not isinstance(questions, list) or not questions:
            errors.append(f"{where} needs a non-empty list of questions")
            continue
        for index, question in enumerate(questions, start=1):
            errors += _question_errors(f"{where}, question {index}", question, names)
    choices = {(q.get("group"), q.get("key")) for s in schema["sections"] if isinstance(s, dict)
               for q in (s.get("questions") or []) if isinstance(q, dict) and q.get("type") == "choice"}
    lost = [f"{group}-{key}" if group else key for group, key in REQUIRED_KEYS if (group, key) not in choices]
    if lost:
        errors.append("The reports count these questions, so keep them as choices: " + ", ".join(lost) + " ("
                      + "; ".join(f"\u201c{_DEFAULT_LABELS[pair]}\u201d" for pair in REQUIRED_KEYS
                                  if pair not in choices) + ")")
    return (None, errors) if errors else (schema, [])
