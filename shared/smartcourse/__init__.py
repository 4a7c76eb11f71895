"""SmartCourse common code, deployed as the SharedLayer (see template.yaml).

Subpackages: settings, errors, observability, db, aws, events, migrate. Domain modules
import none of AWS, SQL or Kafka; adapters do the I/O.
"""
