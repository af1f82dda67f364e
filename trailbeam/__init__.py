"""trailbeam: AWS CloudTrail forensics on Apache Beam.

Importing this package must stay cheap and must not import apache_beam: the CLI's read-only
commands and every pure module work without it.
"""

__version__ = "0.1.0"
