"""Rules of the English normaliser on examples of their own (none of them in
written_forms.tsv): telephone numbers, identifiers, extensions, Roman numerals after
names and titles, versions, "e.g."."""

from __future__ import annotations

import pytest

from voicestack.text import normalize
from voicestack.text.numbers import grouped


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("12345", "one two three four five"),
        ("900123", "nine zero zero, one two three"),
        ("4839201", "four eight three, nine two zero one"),
        ("48392018", "four eight three nine, two zero one eight"),
        ("6104829375", "six one zero, four eight two, nine three seven five"),
    ],
)
def test_grouped_reads_digits_in_threes_and_fours(text, spoken):
    assert grouped(text) == spoken


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # telephone numbers: digit by digit in their groups, "zero" (not "oh", which the
        # recogniser and listeners take for the letter)
        ("Ring 1 888 402 7710 today.", "Ring one, eight eight eight, four zero two, seven seven one zero today."),
        ("Ring +1 888 402 7710 today.",
         "Ring plus one, eight eight eight, four zero two, seven seven one zero today."),
        ("Text 07911 123456 tonight.", "Text zero seven nine one one, one two three, four five six tonight."),
        ("Phone 0113 496 0321 now.", "Phone zero one one three, four nine six, zero three two one now."),
        ("Try 303.209.4411 again.", "Try three zero three, two zero nine, four four one one again."),
        # extensions in pairs, as people say them
        ("Call 410-555-0172 x305.",
         "Call four one zero, five five five, zero one seven two, extension three oh five."),
        ("Ask for ext. 17 please.", "Ask for extension seventeen please."),
        ("Dial extension 2250 now.", "Dial extension twenty-two fifty now."),
        # identifiers: grouped digits after a word that names one, or when long
        ("Your order 7731902 has shipped.", "Your order seven seven three, one nine zero two has shipped."),
        ("Quote policy #55120934 when you call.",
         "Quote policy number five five one two, zero nine three four when you call."),
        ("Enter PIN: 6621 now.", "Enter PIN: six six two one now."),
        ("The tracking number is 940011189922.",
         "The tracking number is nine four zero zero, one one one eight, nine nine two two."),
        ("Batch 000481 failed.", "Batch zero zero zero, four eight one failed."),
        ("It printed 73829104 on the slip.", "It printed seven three eight two, nine one zero four on the slip."),
        # quantities stay numbers
        ("About 2500000 people came.", "About 2500000 people came."),
        ("The card cost 4321 dollars.", "The card cost 4321 dollars."),
        ("In 2030 we sold 4000 units.", "In twenty thirty we sold 4000 units."),
        ("It is 0.0031 thick.", "It is 0.0031 thick."),
    ],
)
def test_telephone_numbers_extensions_and_identifiers(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Edward VII's reign was short.", "Edward the seventh's reign was short."),
        ("After World War I's end came peace.", "After World War one's end came peace."),
        ("King Edward I built castles.", "King Edward the first built castles."),
        ("Pope Leo I met Attila.", "Pope Leo the first met Attila."),
        ("Emperor Napoleon I was exiled.", "Emperor Napoleon the first was exiled."),
        ("Catherine I of Russia was crowned.", "Catherine the first of Russia was crowned."),
        ("Old Tsar Ivan I., who ruled long.", "Old Tsar Ivan the first, who ruled long."),
        # the pronoun stays the pronoun
        ("Tell Mary I called.", "Tell Mary I called."),
        ("Then George I think left.", "Then George I think left."),
        ("Is it I who must go?", "Is it I who must go?"),
    ],
)
def test_roman_numerals_after_names_and_titles(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("We moved to Debian 12.10 last week.", "We moved to Debian twelve point ten last week."),
        ("It needs Ruby 3.30 or newer.", "It needs Ruby three point thirty or newer."),
        ("Servers run Fedora 40.01 now.", "Servers run Fedora forty point oh one now."),
        ("Read Clause 7.14 again.", "Read Clause seven point fourteen again."),
        ("The app needs macOS 13.12 at least.", "The app needs macOS thirteen point twelve at least."),
        ("Get release 2.11.4.", "Get release two point eleven point four."),
        ("Roll back to version 5.13.", "Roll back to version five point thirteen."),
        ("Then install v1.08.", "Then install version one point oh eight."),
        # decimals stay decimals
        ("Roughly 2.75 of them.", "Roughly 2.75 of them."),
        ("The ratio is about 1.25 today.", "The ratio is about 1.25 today."),
        ("Ruby 3.3 is fine.", "Ruby 3.3 is fine."),
        ("It fell on Oct 12.50 odd.", "It fell on October twelfth.50 odd."),
    ],
)
def test_version_and_section_numbers(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Pack tools, e.g. a saw.", "Pack tools, for example a saw."),
        ("E.g. the red one.", "For example the red one."),
        ("Some birds (e.g., owls) hunt at night.", "Some birds (for example, owls) hunt at night."),
    ],
)
def test_for_example(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # decades and ages without an apostrophe or century, never "seconds"
        ("Jazz of the 40s and 50s was loud.", "Jazz of the forties and fifties was loud."),
        ("She is in her early 20s.", "She is in her early twenties."),
        ("Highs in the mid-70s today.", "Highs in the mid-seventies today."),
        ("The 60's-70's look is back.", "The sixties-seventies look is back."),
        ("Pause 40s between sets.", "Pause forty seconds between sets."),
        # chains of small numbers said one after another, not with "dash"
        ("They played a 3-5-2 shape.", "They played a three five two shape."),
        ("Count 5-4-3 and go.", "Count five four three and go."),
        ("They drew 2-2 again.", "They drew two to two again."),
        # a hyphenated amount before a noun
        ("It was a $40-billion merger.", "It was a forty billion dollar merger."),
        ("A £2-million fine was paid.", "A two million pound fine was paid."),
    ],
)
def test_hyphenated_and_plural_numbers(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # numbers to dial
        ("Call 911 if he falls.", "Call nine one one if he falls."),
        ("Dial 311 for the city.", "Dial three one one for the city."),
        ("She texted 4155550198 twice.", "She texted four one five, five five five, zero one nine eight twice."),
        ("Call 250 voters today.", "Call 250 voters today."),
        ("Call 2000000 homes.", "Call 2000000 homes."),
        # currency codes with cents, and one of a unit
        ("It was 7.25 USD a day.", "It was seven US dollars and twenty-five cents a day."),
        ("Pay GBP 0.40 more.", "Pay forty pence more."),
        ("Only 1 EUR each.", "Only one euro each."),
        ("A fee of 9.999 USD.", "A fee of nine point nine nine nine US dollars."),
        # world wars and centuries in Roman numerals
        ("Before WWI the town was small.", "Before World War one the town was small."),
        ("He served in WW2 as a pilot.", "He served in World War two as a pilot."),
        ("The XVIII century saw revolutions.", "The eighteenth century saw revolutions."),
        ("Art of the XIIth century survives.", "Art of the twelfth century survives."),
    ],
)
def test_dialled_numbers_currency_codes_wars_and_centuries(raw, expected):
    assert normalize(raw) == expected
