"""The API: its route groups in registration order (fixed paths before ``/api/cases/{case_id}``).

``python -m casepush.web.api`` prints the API's OpenAPI document; with ``--markdown``, docs/api.md.
"""

import argparse
import json
import sys
from collections.abc import Sequence

from casepush.web import (
    automatic_push,
    case_connectors,
    cases,
    comments,
    configure,
    connectors,
    monitoring,
    openapi,
    push,
    security,
    spaces,
    status,
    sync,
    user_actions,
)

ROUTE_GROUPS = (
    status.routes,
    monitoring.routes,
    openapi.routes,
    spaces.routes,
    security.routes,
    security.elasticsearch_routes,
    connectors.routes,
    push.routes,
    sync.routes,
    case_connectors.routes,
    configure.routes,
    cases.routes,
    comments.routes,
    user_actions.routes,
    automatic_push.routes,
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m casepush.web.api", description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="print docs/api.md instead")
    args = parser.parse_args(argv)
    document = openapi.build(ROUTE_GROUPS)
    text = openapi.markdown(document) if args.markdown else json.dumps(document, indent=2) + "\n"
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
