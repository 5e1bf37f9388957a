"""A small synthetic SQuAD v1.1 file the project writes itself: ``python -m bmp.squad.sample``.

Template-built English paragraphs about invented towns (founders, rivers, employers, fires, festivals), with
questions whose answers are spans. Deterministic for a given seed, so the shipped ``data/squad_sample.json``
can be regenerated bit-for-bit. Each article ends with a long history paragraph (well over 200 word pieces), so
with ``max_length=128`` some answers fall outside some windows, as in real SQuAD.
"""
from __future__ import annotations

import argparse
import json
import random
import string
from pathlib import Path

SEED = 20240
N_ARTICLES = 12
OUTPUT = Path(__file__).resolve().parents[2] / "data" / "squad_sample.json"

_TOWN_HEADS = ["Bel", "Cor", "Dun", "Ell", "Fen", "Gal", "Har", "Ist", "Kar", "Lor", "Mar", "Nor", "Ost", "Pel",
               "Ros", "Sel", "Tor", "Ulm", "Var", "Wen"]
_TOWN_TAILS = ["ford", "haven", "mere", "wick", "by", "stead", "ton", "dale", "holm", "brook"]
_FIRST_NAMES = ["Ada", "Bruno", "Clara", "Dmitri", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Katya",
                "Lukas", "Mira", "Nils", "Olga", "Pavel", "Rosa", "Stefan", "Tilde", "Viktor", "Wanda", "Yara"]
_SURNAME_HEADS = ["Ander", "Bram", "Corv", "Dell", "Esk", "Fal", "Grimm", "Hol", "Ivers", "Jant", "Kess", "Lund",
                  "Morr", "Nyst", "Prel", "Quist", "Rask", "Sund", "Tall", "Ulv", "Vell", "Wyck"]
_SURNAME_TAILS = ["berg", "son", "ley", "mann", "ett", "ow", "ard", "ine"]
_PROFESSIONS = ["miller", "blacksmith", "wool merchant", "surveyor", "ferryman", "glassmaker", "printer", "shipwright"]
_REGIONS = ["Norvale", "Ostmark", "Carrow", "Helmland", "Sudreth", "Vasterby", "Lindmoor", "Aldgarth"]
_COUNTRIES = ["Valdoria", "Estmere", "Orvania"]
_RIVERS = ["Aln", "Brede", "Corra", "Dunmer", "Farrow", "Gelt", "Hollin", "Isel", "Kell", "Lune", "Morva", "Nith",
           "Oster", "Pell"]
_INDUSTRIES = {  # industry -> (company noun, exported product)
    "salt mining": ("Salt Works", "rock salt"), "shipbuilding": ("Shipyard", "fishing boats"),
    "cheese making": ("Dairy Company", "smoked cheese"), "paper milling": ("Paper Mill", "writing paper"),
    "wool weaving": ("Weaving Company", "woollen blankets"), "clock making": ("Clock Works", "pocket watches"),
    "glass blowing": ("Glassworks", "blue glass bottles"), "brewing": ("Brewery", "dark ale"),
}
_BUILDINGS = ["Town Hall", "Grain Exchange", "Clock Tower", "Public Library", "Corn Market", "Opera House"]
_DISASTERS = ["great fire", "flood", "storm", "earthquake"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_FESTIVAL_NOUNS = ["Lantern", "Harvest", "Boat", "Bread", "Kite", "Music", "Apple", "Candle"]
_FILLER = [
    "Visitors often remark on the narrow streets and on the smell of bread drifting from the bakeries near the square.",
    "Much of the old town wall has survived, although a road now runs through the former north gate.",
    "Local historians disagree about how many families lived there during the first decades.",
    "The surrounding farmland is flat and fertile, and in summer the fields are planted with barley and oats.",
    "Many houses in the centre still have the steep roofs and small windows typical of the region.",
    "During the long winters the river sometimes freezes, and children skate on it near the old ferry landing.",
    "The market square is paved with grey stones that were brought by barge from quarries further upstream.",
    "A small museum near the church keeps tools, maps and letters from the early settlers.",
    "Several inns along the main street date from the time when coaches stopped there to change horses.",
    "The town band plays on the square on most Sunday afternoons between spring and autumn.",
    "Some streets were widened in the last century so that carts could pass each other.",
    "Older residents still tell stories about the hard years that followed, when work was scarce.",
    "The parish records from that period were lost, so much of what is known comes from travellers' diaries.",
    "Today the town is quieter than it once was, but its population has grown slowly since the new railway opened.",
]


class _Paragraph:
    """Builds a context from sentence templates, remembering where each filled-in fact starts."""

    def __init__(self):
        self.text = ""
        self.spans: dict[str, tuple[int, str]] = {}

    def say(self, template: str, **facts: str) -> None:
        for literal, key, _, _ in string.Formatter().parse(template):
            self.text += literal
            if key is not None:
                self.spans[key] = (len(self.text), facts[key])
                self.text += facts[key]
        self.text += " "

    def answers(self, key: str, prefix: str = "", short: str | None = None) -> list[dict]:
        """Gold answers for ``key``: the fact itself, plus the fact with ``prefix`` in front, plus a ``short`` form
        that ends the fact (a surname, a river's name): several golds, as SQuAD dev questions have."""
        start, text = self.spans[key]
        golds = [{"text": text, "answer_start": start}]
        if prefix and self.text[start - len(prefix):start] == prefix:
            golds.append({"text": prefix + text, "answer_start": start - len(prefix)})
        if short and text.endswith(short):
            golds.append({"text": short, "answer_start": start + len(text) - len(short)})
        return golds


def _unique(rng: random.Random, make, used: set[str]) -> str:
    while (value := make()) in used:
        pass
    used.add(value)
    return value


def _article(rng: random.Random, index: int, used: set[str]) -> dict:
    def person() -> str:
        return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAME_HEADS)}{rng.choice(_SURNAME_TAILS)}"

    town = _unique(rng, lambda: rng.choice(_TOWN_HEADS) + rng.choice(_TOWN_TAILS), used)
    city = _unique(rng, lambda: rng.choice(_TOWN_HEADS) + rng.choice(_TOWN_TAILS), used)
    founder, mayor, architect = (_unique(rng, person, used) for _ in range(3))
    industry = rng.choice(sorted(_INDUSTRIES))
    company_noun, product = _INDUSTRIES[industry]
    founded = rng.randrange(1190, 1700)
    f = dict(
        town=town, city=city, founder=founder, mayor=mayor, architect=architect, industry=industry, product=product,
        region=rng.choice(_REGIONS), country=rng.choice(_COUNTRIES), river=f"River {rng.choice(_RIVERS)}",
        profession=rng.choice(_PROFESSIONS), founded=str(founded), km=str(rng.randrange(12, 140)),
        company=f"{town} {company_noun}", employees=f"{rng.randrange(3, 60) * 50:,}",
        mayor_year=str(rng.randrange(1990, 2023)), disaster=rng.choice(_DISASTERS),
        disaster_year=str(rng.randrange(founded + 60, 1900)), building=rng.choice(_BUILDINGS),
        building_year=str(rng.randrange(1860, 1960)), month=rng.choice(_MONTHS),
        festival=f"{rng.choice(_FESTIVAL_NOUNS)} Festival", side=rng.choice(["left", "right"]),
    )

    intro = _Paragraph()
    intro.say("{town} is a small town in the {region} region of {country}.", **f)
    intro.say("It was founded in {founded} by {founder}, a {profession} who built the first mill there.", **f)
    intro.say("The town lies on the {side} bank of the {river}, about {km} kilometres upstream from {city}.", **f)

    economy = _Paragraph()
    economy.say("The economy of {town} depends mostly on {industry}.", **f)
    economy.say("The largest employer is the {company}, which employs about {employees} people.", **f)
    economy.say("Much of its output, mainly {product}, is sold abroad and carried down the river by barge.", **f)
    economy.say("The current mayor, {mayor}, was first elected in {mayor_year}.", **f)

    history = _Paragraph()
    filler = rng.sample(_FILLER, rng.randrange(8, len(_FILLER) + 1))
    facts = [
        ("In {disaster_year} a {disaster} destroyed much of the old quarter of {town}.", f),
        ("The new {building} was designed by the architect {architect} and completed in {building_year}.", f),
        ("Every year in {month} the town holds the {festival}, which draws visitors from all over {region}.", f),
    ]
    # Spread the facts through the filler so that some answers sit deep in a long context.
    slots = sorted(rng.sample(range(len(filler) + 1), len(facts)))
    for position in range(len(filler) + 1):
        if position in slots:
            template, values = facts[slots.index(position)]
            history.say(template, **values)
        if position < len(filler):
            history.say(filler[position])

    questions = [
        (intro, f"In what year was {town} founded?", "founded", "in ", None),
        (intro, f"Who founded {town}?", "founder", "", founder.split()[-1]),
        (intro, f"What was the profession of {founder}?", "profession", "a ", None),
        (intro, f"In which region is {town} located?", "region", "", None),
        (intro, f"On which river does {town} lie?", "river", "the ", f["river"].split()[-1]),
        (intro, f"On which bank of the river is {town}?", "side", "", None),
        (intro, f"How many kilometres upstream from {city} is {town}?", "km", "about ", None),
        (intro, f"Which city lies downstream of {town}?", "city", "", None),
        (economy, f"What industry does the economy of {town} mostly depend on?", "industry", "", None),
        (economy, f"What is the largest employer in {town}?", "company", "the ", None),
        (economy, f"How many people does the {f['company']} employ?", "employees", "about ", None),
        (economy, f"What does the {f['company']} sell abroad?", "product", "", None),
        (economy, f"Who is the mayor of {town}?", "mayor", "", mayor.split()[-1]),
        (economy, f"When was {mayor} first elected?", "mayor_year", "in ", None),
        (history, f"What destroyed much of the old quarter of {town}?", "disaster", "a ", None),
        (history, f"In what year did the {f['disaster']} strike {town}?", "disaster_year", "In ", None),
        (history, f"Who designed the {f['building']} in {town}?", "architect", "the architect ", None),
        (history, f"When was the {f['building']} of {town} completed?", "building_year", "in ", None),
        (history, f"In which month is the {f['festival']} of {town} held?", "month", "in ", None),
    ]
    keep = sorted(rng.sample(range(len(questions)), rng.randrange(15, len(questions) + 1)))
    paragraphs = {id(p): {"context": p.text.rstrip(), "qas": []} for p in (intro, economy, history)}
    for n in keep:
        paragraph, question, key, prefix, short = questions[n]
        if rng.random() < 0.1:  # a few questions with stray leading whitespace, as in the real files
            question = "  " + question
        paragraphs[id(paragraph)]["qas"].append({
            "id": f"bmp-sample-{index:02d}-{n:02d}", "question": question,
            "answers": paragraph.answers(key, prefix, short),
        })
    return {"title": town, "paragraphs": list(paragraphs.values())}


def build_sample(seed: int = SEED, n_articles: int = N_ARTICLES) -> dict:
    """The sample as an official-format SQuAD v1.1 object (``{"version", "data": [articles]}``)."""
    rng = random.Random(seed)
    used: set[str] = set()
    return {
        "version": "1.1",
        "source": "Synthetic sample written by bmp.squad.sample (invented towns and people; not SQuAD text).",
        "data": [_article(rng, index, used) for index in range(n_articles)],
    }


def write_sample(path: str | Path = OUTPUT, seed: int = SEED) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build_sample(seed), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=str(OUTPUT), help=f"where to write (default {OUTPUT})")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    path = write_sample(args.output, args.seed)
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    n_questions = sum(len(p["qas"]) for a in data for p in a["paragraphs"])
    print(f"wrote {path}: {len(data)} articles, {n_questions} questions, {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
