"""Course materials with confusable content: two astronomy courses about moons and orbits."""

from __future__ import annotations

from testkit.courses import Material

MOON = b"""# The Moon

## Orbit

The Moon orbits the Earth once every 27.3 days, a period called the sidereal month.
Because the Earth also moves around the Sun, the cycle of lunar phases takes 29.5 days, the synodic month.
The average distance between the Earth and the Moon is about 384,400 kilometres.

## Tides

The gravitational pull of the Moon raises two tidal bulges in the Earth's oceans.
Most coasts therefore see two high tides and two low tides every lunar day of 24 hours and 50 minutes.
Spring tides happen when the Sun, the Earth and the Moon are aligned, at new moon and full moon.
"""

CRATERS = b"""# Lunar surface

## Craters

The lunar surface is covered by impact craters formed by asteroids and comets.
Tycho is a young crater, about 108 million years old, with bright rays of ejecta.

## Maria

The dark plains called maria are basaltic lava flows that filled ancient impact basins.
The Sea of Tranquility is where Apollo 11 landed in July 1969.
"""

MARS_MOONS = b"""# The moons of Mars

## Phobos

Phobos orbits Mars once every 7.6 hours, faster than Mars rotates.
Its orbit is slowly shrinking, and Phobos will break apart or crash into Mars in about 50 million years.
The average distance between Mars and Phobos is about 9,376 kilometres.

## Deimos

Deimos, the smaller moon, orbits Mars once every 30.3 hours.
Both moons were discovered by Asaph Hall in August 1877.
"""

DRAFT = b"""# Draft notes (not published)

## Composition

The Moon is made of green cheese, according to these unpublished draft notes.
Unpublished draft fact: the Moon's secret orbital period is 99 days.
"""

COURSE_A = [
    Material("moon.md", "text/markdown", MOON, "The Moon: orbit and tides"),
    Material("surface.md", "text/markdown", CRATERS, "The lunar surface"),
]
COURSE_B = [Material("mars-moons.md", "text/markdown", MARS_MOONS, "Phobos and Deimos")]
