"""The capacity model of issue 19 in code: a queueing model of the event path, pure Python (no I/O,
no clock), fed with service times measured by `bench.capacity` on the machine it runs on.

Stages, in the order an event goes through them:

- **API** (ApiFunction behind the gateway): an M/M/c queue, c = the function's concurrency (the
  local pool's warm workers; Lambda concurrency in AWS), mean service time 1/mu. Erlang C gives the
  probability of waiting P_w = [a^c/c! / (1 - rho)] / [sum_{k<c} a^k/k! + a^c/c! / (1 - rho)] with
  a = lambda/mu, rho = a/c; the mean wait is P_w / (c mu - lambda) for exponential service times,
  multiplied by (1 + cs^2)/2 (Allen-Cunneen) when the measured service times have a squared
  coefficient of variation cs^2. Percentiles of the response time T = W + S: W is 0 with probability
  1 - P_w and otherwise exponential with that mean, S has the measured low-load distribution (scaled
  to the mean 1/mu), so P(T > t) = mean_i P(W > t - s_i), solved for t by bisection.
- **Outbox relay** and **each Kafka consumer**: a gated batch server (a poller): when a batch
  finishes it takes everything that arrived meanwhile (at most B, the batch size) as the next batch,
  which takes a + b n seconds for n events (a: the pass's or invocation's fixed cost, b: per event);
  an idle server starts as soon as an event arrives. With arrival rate lambda per server:
    - capacity mu_max = B / (a + b B) events/s per server (full batches);
    - while lambda (a + b) < 1 the server handles events one by one (cycle C = a + b); above that,
      cycles follow each other and settle at the fixed point C = a + b lambda C, i.e.
      C = a / (1 - b lambda), n = lambda C events a batch;
    - an event finds the server busy with probability u = min(1, lambda (a + b)), then waits the
      rest of the running cycle (uniform on [0, C], cycles being near-deterministic), then its own
      cycle: mean latency C (1 + u/2), q-quantile C (1 + max(0, 1 - (1 - q)/u));
    - events in the stage (outbox backlog, consumer lag): lambda x mean latency (Little's law).
  Locally one poller reads every partition of a mapping (servers = 1); on AWS an MSK event source
  mapping runs one invocation per partition (servers = partitions, lambda split evenly).
- **Overload** (lambda >= capacity, any stage): fluid approximation over a window of T seconds:
  the backlog grows at g = lambda - capacity, so it ends near g T; an event arriving at time t waits
  g t / capacity more, so the window's mean latency is the saturated latency + g T / (2 capacity),
  its q-quantile the saturated one + q g T / capacity.

- **The machine** (locally every stage, Postgres and Kafka share the same cores; on AWS each
  function has CPU of its own): its capacity X for this workload is measured as a throughput, the
  calls a second that every stage keeps up with while all of them run flat out (for a consumer: the
  records it did meanwhile / its events per call), so the other processes of that minute are in it.
  Utilisation U = lambda / X (the utilisation law at the bottleneck). Every stage's service times
  are stretched by the CPU queue as an M/M/c with c = cores:
  x (1 + P_w(c, cU) / (c (1 - U))) (1 / (1 - U^2) for two cores). Above X the model predicts a
  deficit of lambda - X calls a second, not which stage's backlog takes it (the OS scheduler
  decides that), so it makes no latency prediction there.

The pipeline: the API passes min(lambda, its capacity) operations a second; each operation writes
`events_per_op` events to the outbox (a consumer sees `consumer_events_per_op`, the events on its
topics). Commit -> consumer latency = relay + transit + consumer, where transit is a constant
measured at low load (LISTEN wake-up, Kafka fetch, the runtime's dispatch, and whatever else the
stages' formulas leave out), one for the median and one for the 95th percentile, stretched with the
rest. Percentiles of the sum are the sum of the stages' percentiles (an upper bound for independent
stages).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

QUANTILES = (0.5, 0.95)


@dataclass(frozen=True)
class StagePrediction:
    name: str
    rate: float  # arrivals into the stage per second (operations for the API, events otherwise)
    capacity: float  # the most it passes per second
    utilisation: float  # rate / capacity (above 1: overloaded)
    mean_s: float
    p50_s: float
    p95_s: float
    backlog: float  # expected items in the stage (queued + in service) at the end of the window
    growth_per_s: float  # backlog growth (0 when the stage keeps up)

    @property
    def overloaded(self) -> bool:
        return self.growth_per_s > 0


# --- M/M/c ---------------------------------------------------------------------------------------


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (c = servers, offered load a = lambda/mu)."""
    if servers < 1:
        raise ValueError("servers must be >= 1")
    if offered <= 0:
        return 0.0
    rho = offered / servers
    if rho >= 1:
        return 1.0
    term = 1.0  # a^k / k!, built up term by term (no factorials of large numbers)
    below = 0.0
    for k in range(servers):
        below += term
        term *= offered / (k + 1)
    top = term / (1 - rho)  # a^c / c! / (1 - rho)
    return top / (below + top)


@dataclass(frozen=True)
class ApiStage:
    servers: int
    service_s: float  # mean service time 1/mu
    service_samples: tuple[float, ...] = ()  # measured service times (shape only); empty: exponential

    @property
    def capacity(self) -> float:
        return self.servers / self.service_s

    def samples(self) -> list[float]:
        """Service times with mean `service_s`: the measured ones rescaled, or exponential quantiles."""
        if self.service_samples:
            mean = sum(self.service_samples) / len(self.service_samples)
            return [s * self.service_s / mean for s in self.service_samples]
        n = 200
        quantiles = [-math.log(1 - (i + 0.5) / n) for i in range(n)]
        mean = sum(quantiles) / n
        return [q * self.service_s / mean for q in quantiles]


def _scv(samples: Sequence[float]) -> float:
    """Squared coefficient of variation (variance / mean^2)."""
    mean = sum(samples) / len(samples)
    var = sum((s - mean) ** 2 for s in samples) / len(samples)
    return var / (mean * mean) if mean > 0 else 1.0


def _quantile(samples: Sequence[float], q: float) -> float:
    s = sorted(samples)
    k = max(0, min(len(s) - 1, round(q * (len(s) - 1))))
    return s[k]


def _overloaded(name: str, rate: float, cap: float, window_s: float, *, mean_s: float, p50_s: float,
                p95_s: float, in_service: float) -> StagePrediction:
    """Above capacity (fluid approximation): the backlog grows at g = rate - cap over the window, and
    an item waits behind the backlog built before it: on average g T / (2 cap), at quantile q
    q g T / cap, on top of the saturated stage's own times."""
    g = rate - cap
    return StagePrediction(
        name,
        rate,
        cap,
        rate / cap if cap else math.inf,
        mean_s=mean_s + g * window_s / (2 * cap),
        p50_s=p50_s + 0.5 * g * window_s / cap,
        p95_s=p95_s + 0.95 * g * window_s / cap,
        backlog=g * window_s + in_service,
        growth_per_s=g,
    )


def _steady(name: str, rate: float, cap: float, mean_s: float, quantile: Callable[[float], float]) -> StagePrediction:
    """Below capacity: no growth, backlog by Little's law (rate x mean time in the stage)."""
    return StagePrediction(
        name,
        rate,
        cap,
        rate / cap,
        mean_s=mean_s,
        p50_s=quantile(0.5),
        p95_s=quantile(0.95),
        backlog=rate * mean_s,
        growth_per_s=0.0,
    )


def mmc(stage: ApiStage, rate: float, window_s: float, name: str = "api") -> StagePrediction:
    mu = 1 / stage.service_s
    cap = stage.capacity
    service = stage.samples()
    mean_s = sum(service) / len(service)
    if rate >= cap:
        return _overloaded(name, rate, cap, window_s, mean_s=mean_s, p50_s=_quantile(service, 0.5),
                           p95_s=_quantile(service, 0.95), in_service=stage.servers)
    p_wait = erlang_c(stage.servers, rate / mu)
    scv = _scv(service) if stage.service_samples else 1.0
    wait_mean = p_wait / (stage.servers * mu - rate) * (1 + scv) / 2
    theta = p_wait / wait_mean if wait_mean > 0 else math.inf  # rate of the exponential wait

    def exceeds(t: float) -> float:  # P(T > t)
        total = 0.0
        for s in service:
            x = t - s
            total += 1.0 if x < 0 else (p_wait * math.exp(-theta * x) if theta != math.inf else 0.0)
        return total / len(service)

    def quantile(q: float) -> float:
        lo, hi = 0.0, max(service) + 50 * (wait_mean + mean_s)
        for _ in range(100):
            mid = (lo + hi) / 2
            if exceeds(mid) > 1 - q:
                lo = mid
            else:
                hi = mid
        return hi

    return _steady(name, rate, cap, mean_s + wait_mean, quantile)


# --- gated batch server --------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchStage:
    name: str
    a_s: float  # fixed time per batch (a relay pass, a consumer invocation)
    b_s: float  # time per event within a batch
    batch: int  # B: the largest batch (relay batch size, the mapping's BatchSize)
    servers: int = 1  # pollers working in parallel (partitions on AWS), each taking rate / servers

    @property
    def capacity_per_server(self) -> float:
        return self.batch / (self.a_s + self.b_s * self.batch)

    @property
    def capacity(self) -> float:
        return self.servers * self.capacity_per_server

    def cycle_s(self, rate_per_server: float) -> float:
        """The length of a batch at this arrival rate (below capacity)."""
        one = self.a_s + self.b_s
        if rate_per_server * one < 1:
            return one
        return self.a_s / (1 - self.b_s * rate_per_server)


def batch_server(stage: BatchStage, rate: float, window_s: float) -> StagePrediction:
    cap = stage.capacity
    full = stage.a_s + stage.b_s * stage.batch
    if rate >= cap:
        return _overloaded(stage.name, rate, cap, window_s, mean_s=1.5 * full, p50_s=1.5 * full, p95_s=1.95 * full,
                           in_service=stage.servers * stage.batch)
    per = rate / stage.servers
    cycle = stage.cycle_s(per)
    busy = min(1.0, per * (stage.a_s + stage.b_s))

    def quantile(q: float) -> float:
        if busy <= 0:
            return cycle
        return cycle * (1 + max(0.0, 1 - (1 - q) / busy))

    return _steady(stage.name, rate, cap, cycle * (1 + busy / 2), quantile)


# --- the shared CPU ------------------------------------------------------------------------------


def cpu_stretch(cores: int, utilisation: float) -> float:
    """How much longer CPU work takes at this machine utilisation: the mean response time of an
    M/M/c queue (c = cores) over its service time, 1 + P_w(c, cU) / (c (1 - U)). inf at U >= 1."""
    if utilisation <= 0:
        return 1.0
    if utilisation >= 1:
        return math.inf
    return 1 + erlang_c(cores, cores * utilisation) / (cores * (1 - utilisation))


@dataclass(frozen=True)
class Machine:
    cores: int
    capacity: float  # X: calls a second every stage keeps up with while all of them run (measured)

    def utilisation(self, rate: float) -> float:
        """The bottleneck's utilisation law: U = lambda x D = lambda / X."""
        return rate / self.capacity

    def stretch(self, rate: float) -> float:
        return cpu_stretch(self.cores, self.utilisation(rate))


# --- the pipeline --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Consumer:
    stage: BatchStage
    events_per_op: float  # events on its topics per API operation
    transit_p50_s: float = 0.0  # measured at low load: commit -> consumer minus the modelled stages
    transit_p95_s: float = 0.0


@dataclass(frozen=True)
class PipelineModel:
    api: ApiStage
    relay: BatchStage
    events_per_op: float  # outbox rows per API operation
    consumers: dict[str, Consumer] = field(default_factory=dict)
    machine: Machine | None = None  # None: every stage has CPU of its own (AWS)

    def capacities_ops(self) -> dict[str, float]:
        """Each stage's capacity in API operations per second at base service times (and the
        machine's, when the CPU is shared); the bottleneck is the smallest."""
        out = {"api": self.api.capacity, self.relay.name: self.relay.capacity / self.events_per_op}
        for name, c in self.consumers.items():
            if c.events_per_op > 0:
                out[name] = c.stage.capacity / c.events_per_op
        if self.machine is not None:
            out["machine"] = self.machine.capacity
        return out

    def bottleneck(self) -> tuple[str, float]:
        caps = self.capacities_ops()
        name = min(caps, key=lambda k: caps[k])
        return name, caps[name]

    def stretched(self, factor: float) -> PipelineModel:
        """Every service time x factor (the CPU's stretch), without the machine."""

        def st(b: BatchStage) -> BatchStage:
            return BatchStage(b.name, b.a_s * factor, b.b_s * factor, b.batch, b.servers)

        api = ApiStage(self.api.servers, self.api.service_s * factor, self.api.service_samples)
        return PipelineModel(
            api,
            st(self.relay),
            self.events_per_op,
            {
                k: Consumer(st(c.stage), c.events_per_op, c.transit_p50_s * factor, c.transit_p95_s * factor)
                for k, c in self.consumers.items()
            },
        )


@dataclass(frozen=True)
class PathPrediction:
    """Commit -> consumer for one consumer: relay + transit + consumer."""

    mean_s: float
    p50_s: float
    p95_s: float


@dataclass(frozen=True)
class Prediction:
    offered: float
    api: StagePrediction
    relay: StagePrediction
    consumers: dict[str, StagePrediction]
    paths: dict[str, PathPrediction]
    utilisation: float | None = None  # of the machine, when the CPU is shared
    stretch: float = 1.0
    deficit_per_s: float = 0.0  # API operations a second the machine cannot keep up with
    through: float = 0.0  # API operations a second the stages downstream see

    def growth_ops(self) -> float:
        """The pipeline's backlog growth in API operations a second: the machine's deficit, or (below
        the machine's capacity) the API's growth plus the outbox's and the worst consumer's in
        operations (events / events per operation)."""
        if self.machine_overloaded:
            return self.deficit_per_s
        relay = self.relay.growth_per_s / (self.relay.rate / self.through) if self.through and self.relay.rate else 0
        worst = max(
            (c.growth_per_s / (c.rate / self.through) for c in self.consumers.values() if self.through and c.rate),
            default=0.0,
        )
        return self.api.growth_per_s + relay + worst

    def stages(self) -> list[StagePrediction]:
        return [self.api, self.relay, *self.consumers.values()]

    @property
    def machine_overloaded(self) -> bool:
        return self.deficit_per_s > 0


#: Above this machine utilisation the stretch is taken as at this value (the deficit says the rest).
MAX_UTILISATION = 0.95


def predict(model: PipelineModel, offered_ops: float, window_s: float) -> Prediction:
    stretch, util, deficit = 1.0, None, 0.0
    if model.machine is not None:
        machine = model.machine
        util = machine.utilisation(offered_ops)
        deficit = max(0.0, offered_ops - machine.capacity)
        stretch = machine.stretch(min(offered_ops, MAX_UTILISATION * machine.capacity))
    m = model.stretched(stretch) if stretch != 1.0 else model
    if deficit > 0:  # the stages at the machine's capacity (their latencies are not a prediction then)
        api = mmc(m.api, offered_ops - deficit, window_s)
        through = offered_ops - deficit
    else:
        api = mmc(m.api, offered_ops, window_s)
        through = min(offered_ops, m.api.capacity)
    relay_in = through * m.events_per_op
    relay = batch_server(m.relay, relay_in, window_s)
    relay_out = min(relay_in, m.relay.capacity)
    scale = relay_out / relay_in if relay_in > 0 else 0.0
    consumers: dict[str, StagePrediction] = {}
    paths: dict[str, PathPrediction] = {}
    for name, c in m.consumers.items():
        p = batch_server(c.stage, through * c.events_per_op * scale, window_s)
        consumers[name] = p
        paths[name] = PathPrediction(
            relay.mean_s + c.transit_p50_s + p.mean_s,
            relay.p50_s + c.transit_p50_s + p.p50_s,
            relay.p95_s + c.transit_p95_s + p.p95_s,
        )
    return Prediction(offered_ops, api, relay, consumers, paths, util, stretch, deficit, through)


# --- sizing --------------------------------------------------------------------------------------


def servers_needed(stage: BatchStage, rate: float, max_utilisation: float = 0.7) -> int:
    """Pollers (partitions) so that each runs at most `max_utilisation` of its full-batch capacity."""
    if rate <= 0:
        return 1
    return max(1, math.ceil(rate / (max_utilisation * stage.capacity_per_server)))


def concurrency_needed(rate: float, service_s: float) -> float:
    """Little's law: executions in flight = arrivals per second x seconds each."""
    return rate * service_s


def within_factor(predicted: float, measured: float, factor: float = 2.0, floor: float = 0.0) -> bool:
    """predicted / factor <= measured <= predicted x factor; values under `floor` count as `floor`
    (a few milliseconds either way is not a disagreement)."""
    p, m = max(predicted, floor), max(measured, floor)
    if p <= 0 or m <= 0:
        return p == m
    return p / factor <= m <= p * factor


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (t, value) points (0 with fewer than two distinct times)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    if den == 0:
        return 0.0
    return sum((t - mt) * (v - mv) for t, v in points) / den


def fit_batch_times(samples: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """(a, b) of duration = a + b n by least squares over (n, seconds) invocations (a rare expensive
    record, e.g. a certificate to render among skipped events, counts at its average cost); with
    one batch size only, b = 0 and a = the mean."""
    if not samples:
        raise ValueError("no invocations to fit")
    points = [(float(n), d) for n, d in samples]
    mean_n = sum(n for n, _ in points) / len(points)
    mean_d = sum(d for _, d in points) / len(points)
    if all(n == points[0][0] for n, _ in points):
        return mean_d, 0.0
    b = max(0.0, slope(points))
    return max(0.0, mean_d - b * mean_n), b
