"""Reads template.yaml: the one source of wiring for the local runtime.

Understands the CloudFormation short-form tags, resolves the intrinsics the template uses
(!Ref, !Sub, !GetAtt, !Join, !If on simple conditions, !Select) against parameter values and
pseudo parameters, and turns every AWS::Serverless::Function into a `FunctionSpec` with its
events (Api, Schedule, S3, MSK, SNS), in the shapes the runtime drives. SES configuration set
event destinations are read too (`EmailEventDestination`): provisioning reproduces them with
moto's identity notifications.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's account id


class TemplateError(Exception):
    pass


class _Tag:
    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value

    def __repr__(self) -> str:
        return f"!{self.tag} {self.value!r}"


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> _Tag:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return _Tag(tag_suffix, value)


_Loader.add_multi_constructor("!", _construct)


def load_raw(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as fh:
        data = yaml.load(fh, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path} is not a SAM template (no Resources)")
    return data


@dataclass(frozen=True)
class ApiEvent:
    name: str
    path: str
    method: str  # lower-case, or "any"


@dataclass(frozen=True)
class ScheduleEvent:
    name: str
    expression: str
    enabled: bool

    @property
    def rate_seconds(self) -> float:
        m = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days|second|seconds)\)", self.expression)
        if not m:
            raise TemplateError(
                f"schedule {self.name}: only rate(...) expressions run locally, got {self.expression!r}")
        n = int(m.group(1))
        unit = m.group(2).rstrip("s")
        return float(n * {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit])


@dataclass(frozen=True)
class S3Event:
    name: str
    bucket_logical_id: str
    bucket_name: str
    events: tuple[str, ...]
    prefix: str | None = None
    suffix: str | None = None


@dataclass(frozen=True)
class SnsEvent:
    """A SAM `Type: SNS` event: the function subscribed to a topic (Properties: Topic only)."""

    name: str
    topic_arn: str  # resolved: !Ref of an AWS::SNS::Topic is its ARN

    @property
    def topic_name(self) -> str:
        return self.topic_arn.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class EmailEventDestination:
    """An AWS::SES::ConfigurationSetEventDestination publishing to SNS: which configuration set,
    which event types (lower-case, as CloudFormation takes them: bounce, complaint, ...), which topic."""

    logical_id: str
    configuration_set: str
    event_types: tuple[str, ...]
    topic_arn: str
    enabled: bool


@dataclass(frozen=True)
class MskEvent:
    name: str
    topics: tuple[str, ...]
    batch_size: int
    starting_position: str
    consumer_group_id: str
    maximum_retry_attempts: int
    report_batch_item_failures: bool
    on_failure_destination: str | None  # resolved; a kafka://<topic> destination locally
    batching_window_seconds: float

    @property
    def dead_letter_topic(self) -> str | None:
        dest = self.on_failure_destination
        if dest and dest.startswith("kafka://"):
            return dest[len("kafka://"):]
        return None


@dataclass
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    layers: list[Path]
    api_events: list[ApiEvent] = field(default_factory=list)
    schedule_events: list[ScheduleEvent] = field(default_factory=list)
    s3_events: list[S3Event] = field(default_factory=list)
    msk_events: list[MskEvent] = field(default_factory=list)
    sns_events: list[SnsEvent] = field(default_factory=list)
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class ApiCors:
    """Globals.Api.Cors as SAM turns it into the OPTIONS mock integration of every path (values
    unquoted: SAM takes API Gateway header mappings, i.e. quoted literals like "'*'")."""

    allow_origin: str
    allow_headers: str | None = None
    allow_methods: str | None = None  # None: SAM lists the path's own methods plus OPTIONS
    max_age: str | None = None
    allow_credentials: bool = False


@dataclass
class Template:
    functions: dict[str, FunctionSpec]
    buckets: dict[str, str]  # logical id -> bucket name
    parameters: dict[str, str]
    api_cors: ApiCors | None = None
    # Globals.Api.GatewayResponses: response type (DEFAULT_4XX, DEFAULT_5XX, ...) -> extra headers
    gateway_response_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    email_event_destinations: list[EmailEventDestination] = field(default_factory=list)

    def function(self, logical_id: str) -> FunctionSpec:
        try:
            return self.functions[logical_id]
        except KeyError:
            raise TemplateError(
                f"no function {logical_id!r} in template.yaml; known: {', '.join(sorted(self.functions))}"
            ) from None


class _Resolver:
    def __init__(self, raw: dict[str, Any], params: dict[str, str], region: str) -> None:
        self.raw = raw
        self.resources: dict[str, Any] = raw.get("Resources", {})
        self.params = params
        self.pseudo = {
            "AWS::AccountId": LOCAL_ACCOUNT_ID,
            "AWS::Region": region,
            "AWS::StackName": f"smartcourse-{params.get('Stage', 'local')}",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }
        self.conditions = raw.get("Conditions", {})

    def ref(self, name: str) -> Any:
        if name in self.params:
            return self.params[name]
        if name in self.pseudo:
            return self.pseudo[name]
        res = self.resources.get(name)
        if res is None:
            raise TemplateError(f"!Ref {name}: no such parameter or resource")
        rtype = res.get("Type")
        props = res.get("Properties", {}) or {}
        if rtype == "AWS::S3::Bucket":
            return self.resolve(props.get("BucketName", name.lower()))
        if rtype == "AWS::SQS::Queue":
            return f"http://local/{LOCAL_ACCOUNT_ID}/{self.resolve(props.get('QueueName', name))}"
        if rtype == "AWS::Serverless::Function":
            return self.resolve(props.get("FunctionName", name))
        if rtype == "AWS::SNS::Topic":
            topic = self.resolve(props.get("TopicName", name))
            return f"arn:aws:sns:{self.pseudo['AWS::Region']}:{LOCAL_ACCOUNT_ID}:{topic}"
        if rtype == "AWS::SES::ConfigurationSet":
            return self.resolve(props.get("Name", name))
        return name

    def get_att(self, name: str, attr: str) -> Any:
        res = self.resources.get(name)
        if res is None:
            raise TemplateError(f"!GetAtt {name}.{attr}: no such resource")
        rtype = res.get("Type")
        if attr == "Arn":
            if rtype == "AWS::S3::Bucket":
                return f"arn:aws:s3:::{self.ref(name)}"
            if rtype == "AWS::SQS::Queue":
                props = res.get("Properties", {}) or {}
                qname = self.resolve(props.get("QueueName", name))
                return f"arn:aws:sqs:{self.pseudo['AWS::Region']}:{LOCAL_ACCOUNT_ID}:{qname}"
            return f"arn:aws:local:{self.pseudo['AWS::Region']}:{LOCAL_ACCOUNT_ID}:{name}"
        return f"{name}.{attr}"

    def condition(self, name: str) -> bool:
        cond = self.conditions.get(name)
        if cond is None:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(cond))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, _Tag):
            return self._tag(value)
        if isinstance(value, dict):
            if len(value) == 1:
                (k, v), = value.items()
                if k == "Ref":
                    return self.ref(v)
                if k.startswith("Fn::"):
                    return self._tag(_Tag(k[4:], v))
                if k == "Condition":
                    return self.condition(v)
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _tag(self, t: _Tag) -> Any:
        v = t.value
        if t.tag == "Ref":
            return self.ref(v)
        if t.tag == "GetAtt":
            name, attr = v.split(".", 1) if isinstance(v, str) else v
            return self.get_att(name, attr)
        if t.tag == "Sub":
            text, extra = (v, {}) if isinstance(v, str) else (v[0], self.resolve(v[1]))

            def sub(m: re.Match[str]) -> str:
                key = m.group(1)
                if key in extra:
                    return str(extra[key])
                if "." in key:
                    n, a = key.split(".", 1)
                    return str(self.get_att(n, a))
                return str(self.ref(key))

            return re.sub(r"\$\{([^}!]+)\}", sub, text)
        if t.tag == "Join":
            sep, items = v
            return sep.join(str(x) for x in self.resolve(items))
        if t.tag == "Select":
            idx, items = v
            return self.resolve(items)[int(self.resolve(idx))]
        if t.tag == "Equals":
            a, b = self.resolve(v)
            return a == b
        if t.tag == "Not":
            return not self.resolve(v)[0]
        if t.tag == "And":
            return all(self.resolve(v))
        if t.tag == "Or":
            return any(self.resolve(v))
        if t.tag == "If":
            cond, yes, no = v
            return self.resolve(yes) if self.condition(cond) else self.resolve(no)
        if t.tag == "Condition":
            return self.condition(v)
        if t.tag == "Split":
            sep, text = v
            return str(self.resolve(text)).split(sep)
        raise TemplateError(f"intrinsic !{t.tag} is not supported by the local runtime")


def _merge_globals(globals_fn: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    merged = dict(globals_fn)
    for k, v in props.items():
        if k == "Environment" and "Environment" in merged:
            gvars = dict(merged["Environment"].get("Variables", {}))
            gvars.update(v.get("Variables", {}))
            merged["Environment"] = {"Variables": gvars}
        else:
            merged[k] = v
    return merged


def _literal(value: Any, where: str) -> str:
    """An API Gateway header mapping value: a quoted literal ("'*'") -> its text."""
    text = str(value)
    if len(text) < 2 or text[0] != "'" or text[-1] != "'":
        raise TemplateError(f"{where}: {text!r} must be a quoted literal like \"'*'\" (API Gateway mapping)")
    return text[1:-1]


def _api_cors(r: _Resolver, globals_api: dict[str, Any]) -> ApiCors | None:
    raw = globals_api.get("Cors")
    if raw is None:
        return None
    cors = r.resolve(raw)
    if isinstance(cors, str):  # the short form: AllowOrigin only
        return ApiCors(allow_origin=_literal(cors, "Globals.Api.Cors"))
    if not isinstance(cors, dict) or "AllowOrigin" not in cors:
        raise TemplateError("Globals.Api.Cors needs AllowOrigin")

    def opt(key: str) -> str | None:
        return _literal(cors[key], f"Globals.Api.Cors.{key}") if cors.get(key) not in (None, "") else None

    credentials = cors.get("AllowCredentials", False)
    if not isinstance(credentials, bool):  # SAM would quietly take "'true'" as false
        raise TemplateError(f"Globals.Api.Cors.AllowCredentials: {credentials!r} must be true or false (a boolean)")
    # As SAM (api_generator `_add_cors`): a literal "'*'" origin with credentials is refused. A
    # parameterised origin (!Sub "'${WebOrigin}'") is allowed, whatever it resolves to.
    if credentials and isinstance(raw, dict) and raw.get("AllowOrigin") == "'*'":
        raise TemplateError("Globals.Api.Cors: AllowCredentials cannot be true when AllowOrigin is \"'*'\" (SAM)")
    return ApiCors(
        allow_origin=_literal(cors["AllowOrigin"], "Globals.Api.Cors.AllowOrigin"),
        allow_headers=opt("AllowHeaders"),
        allow_methods=opt("AllowMethods"),
        max_age=(str(cors["MaxAge"]).strip("'") if cors.get("MaxAge") is not None else None),
        allow_credentials=credentials,
    )


def _gateway_responses(r: _Resolver, globals_api: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for rtype, spec in (r.resolve(globals_api.get("GatewayResponses") or {})).items():
        headers = ((spec or {}).get("ResponseParameters") or {}).get("Headers") or {}
        out[str(rtype)] = {str(k): _literal(v, f"GatewayResponses.{rtype}.{k}") for k, v in headers.items()}
    return out


#: Local values of the parameters a deploy must supply (template.yaml gives them no default, so a
#: deploy without them fails at once). Like `sam local --parameter-overrides`: locally DATABASE_URL,
#: JWT_SECRET and the Kafka endpoint come from `stack.local_overrides` and config/local.env, so the
#: secret ARNs stay empty and the MSK ARN only names the cluster.
LOCAL_PARAMETERS = {
    "MskClusterArn": f"arn:aws:kafka:us-east-1:{LOCAL_ACCOUNT_ID}:cluster/smartcourse-local/local",
    "KafkaBootstrapServers": "127.0.0.1:9092",
    "DatabaseSecretArn": "",
    "JwtSecretArn": "",
    "PublicBaseUrl": "http://127.0.0.1:8000",
    "NotificationsSender": "notifications@smartcourse.local",
}


def load(path: Path = TEMPLATE, *, parameter_overrides: dict[str, str] | None = None,
         region: str = "us-east-1") -> Template:
    raw = load_raw(path)
    params: dict[str, str] = {}
    for name, spec in (raw.get("Parameters") or {}).items():
        if "Default" in spec:
            d = spec["Default"]
            params[name] = ",".join(d) if isinstance(d, list) else str(d)
        elif name in LOCAL_PARAMETERS:
            params[name] = LOCAL_PARAMETERS[name]
    params.update(parameter_overrides or {})
    r = _Resolver(raw, params, region)
    globals_fn = (raw.get("Globals") or {}).get("Function", {}) or {}
    base = path.parent
    buckets = {lid: r.ref(lid) for lid, res in r.resources.items() if res.get("Type") == "AWS::S3::Bucket"}
    layers_by_id = {
        lid: base / str((res.get("Properties") or {}).get("ContentUri", "."))
        for lid, res in r.resources.items()
        if res.get("Type") == "AWS::Serverless::LayerVersion"
    }
    functions: dict[str, FunctionSpec] = {}
    for lid, res in r.resources.items():
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        props = _merge_globals(globals_fn, res.get("Properties") or {})
        env_raw = (props.get("Environment") or {}).get("Variables", {}) or {}
        env = {k: ("" if val is None else str(val)) for k, val in r.resolve(env_raw).items()}
        layer_paths = []
        for layer in props.get("Layers", []) or []:
            lname = layer.value if isinstance(layer, _Tag) and layer.tag == "Ref" else None
            if isinstance(layer, dict) and "Ref" in layer:
                lname = layer["Ref"]
            if lname in layers_by_id:
                layer_paths.append(layers_by_id[lname])
        spec = FunctionSpec(
            logical_id=lid,
            code_uri=base / str(props.get("CodeUri", ".")),
            handler=str(props["Handler"]),
            runtime=str(props.get("Runtime", "python3.11")),
            timeout=int(r.resolve(props.get("Timeout", 3))),
            memory_size=int(r.resolve(props.get("MemorySize", 128))),
            environment=env,
            layers=layer_paths,
            reserved_concurrency=(int(r.resolve(props["ReservedConcurrentExecutions"]))
                                  if "ReservedConcurrentExecutions" in props else None),
        )
        for ename, event in (props.get("Events") or {}).items():
            etype = event.get("Type")
            eprops = event.get("Properties") or {}
            if etype == "Api":
                spec.api_events.append(ApiEvent(ename, str(r.resolve(eprops["Path"])), str(eprops["Method"]).lower()))
            elif etype == "Schedule":
                spec.schedule_events.append(ScheduleEvent(
                    ename, str(r.resolve(eprops["Schedule"])), bool(r.resolve(eprops.get("Enabled", True)))))
            elif etype == "S3":
                bucket_ref = eprops["Bucket"]
                bucket_lid = bucket_ref.value if isinstance(bucket_ref, _Tag) else bucket_ref.get("Ref")
                events = eprops["Events"]
                events_t = tuple(events) if isinstance(events, list) else (events,)
                prefix = suffix = None
                for rule in ((eprops.get("Filter") or {}).get("S3Key") or {}).get("Rules", []):
                    if rule["Name"].lower() == "prefix":
                        prefix = str(r.resolve(rule["Value"]))
                    elif rule["Name"].lower() == "suffix":
                        suffix = str(r.resolve(rule["Value"]))
                spec.s3_events.append(S3Event(ename, bucket_lid, buckets[bucket_lid], events_t, prefix, suffix))
            elif etype == "MSK":
                dest = (((eprops.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"))
                spec.msk_events.append(MskEvent(
                    name=ename,
                    topics=tuple(str(t) for t in r.resolve(eprops["Topics"])),
                    batch_size=int(r.resolve(eprops.get("BatchSize", 100))),
                    starting_position=str(r.resolve(eprops.get("StartingPosition", "LATEST"))),
                    consumer_group_id=str(r.resolve(eprops.get("ConsumerGroupId", f"{lid}-{ename}"))),
                    maximum_retry_attempts=int(r.resolve(eprops.get("MaximumRetryAttempts", -1))),
                    report_batch_item_failures="ReportBatchItemFailures" in (eprops.get("FunctionResponseTypes") or []),
                    on_failure_destination=(str(r.resolve(dest)) if dest is not None else None),
                    batching_window_seconds=float(r.resolve(eprops.get("MaximumBatchingWindowInSeconds", 0))),
                ))
            elif etype == "SNS":
                unsupported = sorted(set(eprops) - {"Topic"})
                if unsupported:  # FilterPolicy, SqsSubscription, ...: not reproduced locally, so refused
                    raise TemplateError(f"{lid}.{ename}: SNS event properties {', '.join(unsupported)} are not "
                                        "driven by the local runtime (only Topic)")
                topic = str(r.resolve(eprops["Topic"]))
                if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}", topic):
                    raise TemplateError(f"{lid}.{ename}: Topic {topic!r} is not an SNS topic ARN")
                spec.sns_events.append(SnsEvent(ename, topic))
            else:
                raise TemplateError(f"{lid}.{ename}: event type {etype} is not driven by the local runtime")
        functions[lid] = spec
    globals_api = (raw.get("Globals") or {}).get("Api", {}) or {}
    return Template(functions=functions, buckets=buckets, parameters=params,
                    api_cors=_api_cors(r, globals_api), gateway_response_headers=_gateway_responses(r, globals_api),
                    email_event_destinations=_email_event_destinations(r))


def _email_event_destinations(r: _Resolver) -> list[EmailEventDestination]:
    """The SES configuration sets' SNS event destinations (other destinations are not reproduced)."""
    out = []
    for lid, res in r.resources.items():
        if res.get("Type") != "AWS::SES::ConfigurationSetEventDestination":
            continue
        props = res.get("Properties") or {}
        dest = props.get("EventDestination") or {}
        sns = dest.get("SnsDestination")
        if not sns:
            continue
        out.append(EmailEventDestination(
            logical_id=lid,
            configuration_set=str(r.resolve(props["ConfigurationSetName"])),
            event_types=tuple(str(t).lower() for t in r.resolve(dest.get("MatchingEventTypes") or [])),
            topic_arn=str(r.resolve(sns["TopicARN"])),
            enabled=bool(r.resolve(dest.get("Enabled", False))),
        ))
    return out
