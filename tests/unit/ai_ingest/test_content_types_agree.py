"""The LMS (which signs uploads) and ingestion (which indexes them) each keep their list of
content types, on their own side of the ownership line. Every type the LMS lets an instructor
upload must be one ingestion accepts, or uploads would be signed only to fail indexing."""

from smartcourse.ai.assets import ACCEPTED_TYPES
from smartcourse.ai.extract import CONTENT_TYPES
from smartcourse.lms.domain import ALLOWED_CONTENT_TYPES


def test_every_uploadable_type_is_indexable() -> None:
    assert set(ALLOWED_CONTENT_TYPES) <= set(ACCEPTED_TYPES)


def test_ingestion_accepts_exactly_the_types_the_extractor_knows() -> None:
    assert set(ACCEPTED_TYPES) == set(CONTENT_TYPES)
    for media, fmt in CONTENT_TYPES.items():
        assert fmt.value in ACCEPTED_TYPES[media]
