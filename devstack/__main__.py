"""`python -m devstack <command>`: the local stack and runtime.

  run      start the stack, migrate, provision, serve the API on :8000 and the web app on :8080,
           and drive every trigger
  stack    start the stack only (tests and `invoke` reuse it), until Ctrl-C
  invoke   run one function once with an event file, like `sam local invoke`
  migrate  apply SQL migrations to the app database
  topics   create the Kafka topics of config/kafka-topics.yaml for a stage (local broker or MSK)
  trace    one request's timeline across functions, from the logs `run` keeps (a correlation or trace id)
  status   outbox backlog and oldest age, consumer lag per MSK mapping, dead letters, S3 queue depths
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from devstack import template as tpl
from devstack.errors import StackError
from devstack.stack import DATA_DIR, Stack, aws_clients, local_overrides, running_stack

STAGE = os.environ.get("DEVSTACK_STAGE", "local")


def _wait_for_ctrl_c() -> None:
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    while not done.wait(1):
        pass


def cmd_run(args: argparse.Namespace, stack_only: bool = False) -> int:
    from devstack.runtime import LocalRuntime, RuntimeOptions

    # CORS as deployed for the local web app's origin, not the template's "*": the app's /auth calls
    # carry the refresh cookie, and browsers send credentials only to an API naming the origin.
    # (Open the app at this address: from http://localhost:<port> the API refuses it.)
    overrides = {"Stage": STAGE}
    web_port = getattr(args, "web_port", None)
    if web_port:
        overrides["WebOrigin"] = f"http://127.0.0.1:{web_port}"
    template = tpl.load(parameter_overrides=overrides)
    stack = Stack()
    try:
        ep = stack.start()
        queues = stack.prepare(STAGE, template)
        print(f"postgres  {ep.database_url()}")
        print(f"kafka     {ep.kafka_bootstrap_servers}")
        print(f"s3/sqs    {ep.aws_endpoint_url}")
        if stack_only:
            print("stack is up; Ctrl-C stops it", flush=True)
            _wait_for_ctrl_c()
            return 0
        _, sqs = aws_clients(ep.aws_endpoint_url)
        options = RuntimeOptions(http_port=args.port, schedule_rate_s=args.schedule_rate,
                                 log_dir=DATA_DIR / "logs")
        runtime = LocalRuntime(template, local_overrides(ep, STAGE), options, stage=STAGE,
                               kafka_bootstrap=ep.kafka_bootstrap_servers, sqs=sqs, s3_queues=queues)
        try:
            runtime.start()
        except OSError as exc:
            raise StackError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}; use --port") from exc
        from devstack.web import WebServer, template_csp

        api_url = f"http://127.0.0.1:{args.port}"
        try:
            web = WebServer(api_base_url=api_url, stage=STAGE, port=args.web_port,
                            csp=template_csp([api_url, ep.aws_endpoint_url])).start()
        except OSError as exc:
            runtime.stop()
            raise StackError(f"cannot listen on 127.0.0.1:{args.web_port}: {exc.strerror}; use --web-port") from exc
        print(f"API       http://127.0.0.1:{args.port}  (try: curl -s 127.0.0.1:{args.port}/health)")
        print(f"web app   {web.url}/  (open it in a browser)")
        print(f"API docs  {web.url}/reference.html  (every operation of /openapi.json; try them from the page)")
        print(f"functions {', '.join(sorted(template.functions))}; logs in {DATA_DIR / 'logs'}")
        print("running; Ctrl-C stops everything", flush=True)
        try:
            _wait_for_ctrl_c()
        finally:
            web.stop()
            runtime.stop()
        return 0
    finally:
        stack.stop()
        print("stopped", flush=True)


def cmd_invoke(args: argparse.Namespace) -> int:
    from devstack.invoker import FunctionPool, function_env

    template = tpl.load(parameter_overrides={"Stage": STAGE})
    spec = template.function(args.function)
    event: Any = json.loads(Path(args.event).read_text()) if args.event else {}
    ep = running_stack()
    stack = None
    if ep is None:
        stack = Stack()
        ep = stack.start()
        stack.prepare(STAGE, template)
    pool = FunctionPool(spec, function_env(spec, local_overrides(ep, STAGE)), max_concurrency=1)
    try:
        result = pool.invoke(event)
    finally:
        pool.close()
        if stack is not None:
            stack.stop()
    print(json.dumps(result.payload, indent=2, default=str))
    print(f"# {spec.logical_id}: {'ok' if result.ok else 'error'} in {result.duration_ms:.0f} ms "
          f"(init {result.init_ms:.0f} ms)", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_topics(args: argparse.Namespace) -> int:
    """Create the topics of config/kafka-topics.yaml for a stage on any cluster (MSK included):
    the connection comes from KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM."""
    from devstack.provision import ensure_topics, topic_specs
    from smartcourse.kafka_client import client_config
    from smartcourse.settings import KafkaSettings, load_settings

    cfg = client_config(load_settings(KafkaSettings))
    bootstrap = ",".join(cfg.pop("bootstrap_servers"))
    created = ensure_topics(bootstrap, topic_specs(f"smartcourse.{args.stage}"),
                            replication_factor=args.replication_factor, **cfg)
    print(f"topics: {len(created)} created ({', '.join(created) or 'all existed'})")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from smartcourse import migrate

    ep = running_stack()
    if os.environ.get("DATABASE_URL"):
        return migrate.main([])
    if ep is None:
        print("migrate: no running stack (make run) and no DATABASE_URL", file=sys.stderr)
        return 2
    return migrate.main(["--database-url", ep.database_url()])


def cmd_trace(args: argparse.Namespace) -> int:
    from devstack.observe import format_timeline, read_lines, timeline

    log_dir = Path(args.log_dir) if args.log_dir else DATA_DIR / "logs"
    print(format_timeline(timeline(read_lines(log_dir), args.id)))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from devstack.observe import consumer_lag, queue_depths, topic_size
    from devstack.provision import queue_name
    from smartcourse.db import Database
    from smartcourse.ops import status as outbox_status

    ep = running_stack()
    if ep is None:
        print("status: no running stack (make run)", file=sys.stderr)
        return 2
    template = tpl.load(parameter_overrides={"Stage": STAGE})
    db = Database(ep.database_url(), application_name="devstack-status")
    try:
        outbox = outbox_status(db)
        with db.transaction() as conn:
            failures = {r["consumer"]: int(r["n"]) for r in conn.execute(
                "SELECT consumer, count(*) AS n FROM (SELECT consumer FROM lms.consumer_failures "
                "UNION ALL SELECT consumer FROM ai.consumer_failures "
                "UNION ALL SELECT consumer FROM notify.consumer_failures "
                "UNION ALL SELECT consumer FROM analytics.consumer_failures) f GROUP BY consumer").fetchall()}
    finally:
        db.close()
    groups = {ev.consumer_group_id: ev.topics for fn in template.functions.values() for ev in fn.msk_events}
    _, sqs = aws_clients(ep.aws_endpoint_url)
    urls = []
    for fn in template.functions.values():
        for ev in fn.s3_events:
            name = queue_name(STAGE, fn.logical_id, ev)
            for q in (name, f"{name}-dlq"[:80]):
                try:
                    urls.append(sqs.get_queue_url(QueueName=q)["QueueUrl"])
                except sqs.exceptions.QueueDoesNotExist:
                    continue
    report = {"outbox": outbox, "consumer_lag": consumer_lag(ep.kafka_bootstrap_servers, groups),
              "dead_letter_topic": {f"smartcourse.{STAGE}.dlq": topic_size(ep.kafka_bootstrap_servers,
                                                                          f"smartcourse.{STAGE}.dlq")},
              "consumer_failures": failures, "s3_queues": queue_depths(sqs, urls)}
    print(json.dumps(report, indent=2, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    run.add_argument("--web-port", type=int, default=int(os.environ.get("DEVSTACK_WEB_PORT", "8080")),
                     help="serve the web app (web/) on this port (default 8080)")
    run.add_argument("--schedule-rate", type=float, default=None,
                     help="fire a 1-minute Schedule every N seconds (other rates keep their ratio) "
                          "instead of the template's rate")
    sub.add_parser("stack")
    inv = sub.add_parser("invoke")
    inv.add_argument("function")
    inv.add_argument("--event", "-e")
    sub.add_parser("migrate")
    topics = sub.add_parser("topics")
    topics.add_argument("--stage", default=STAGE)
    topics.add_argument("--replication-factor", type=int, default=1)
    trace = sub.add_parser("trace", help="one request's timeline across functions")
    trace.add_argument("id", help="a correlation id (X-Correlation-Id) or a W3C trace id")
    trace.add_argument("--log-dir", help="default: .data/logs (what `make run` keeps)")
    sub.add_parser("status", help="outbox backlog, consumer lag, dead letters, S3 queues")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "run":
            return cmd_run(args)
        if args.cmd == "stack":
            return cmd_run(args, stack_only=True)
        if args.cmd == "invoke":
            return cmd_invoke(args)
        if args.cmd == "topics":
            return cmd_topics(args)
        if args.cmd == "trace":
            return cmd_trace(args)
        if args.cmd == "status":
            return cmd_status(args)
        return cmd_migrate(args)
    except (StackError, tpl.TemplateError) as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
