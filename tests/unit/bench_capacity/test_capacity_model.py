"""The capacity model of issue 19 (bench/capacity_model.py) against values computed by hand: Erlang C,
M/M/c waits and percentiles, the gated batch server, the machine's CPU stretch, saturation turning
into backlog growth, sizing. Pure arithmetic: no services, no clock."""

from __future__ import annotations

import math

import pytest

from bench import capacity_model as cm


def test_erlang_c_matches_the_closed_forms() -> None:
    # M/M/1: an arrival waits with probability rho
    assert cm.erlang_c(1, 0.7) == pytest.approx(0.7)
    # M/M/2 with a = 1 (rho = 0.5): [a^2/2! / (1 - rho)] / [1 + a + a^2/2! / (1 - rho)] = 1 / 3
    assert cm.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # M/M/4 with a = 3.2 (rho = 0.8), summed by hand: 0.5964
    assert cm.erlang_c(4, 3.2) == pytest.approx(0.5964, abs=1e-4)
    assert cm.erlang_c(3, 0.0) == 0.0
    assert cm.erlang_c(2, 2.0) == 1.0  # saturated: everyone waits


def test_mm1_mean_and_p95_response_time() -> None:
    # mu = 10/s, lambda = 5/s: T ~ Exp(mu - lambda), mean 1 / 5 = 0.2 s, p95 ln(20) / 5 = 0.599 s
    p = cm.mmc(cm.ApiStage(servers=1, service_s=0.1), rate=5.0, window_s=30)
    assert p.utilisation == pytest.approx(0.5)
    assert p.capacity == pytest.approx(10.0)
    assert p.mean_s == pytest.approx(0.2)
    assert p.p95_s == pytest.approx(math.log(20) / 5, rel=0.03)
    assert p.p50_s == pytest.approx(math.log(2) / 5, rel=0.03)
    assert p.backlog == pytest.approx(5.0 * 0.2)  # Little's law
    assert p.growth_per_s == 0.0


def test_deterministic_service_halves_the_wait() -> None:
    # Allen-Cunneen: constant service times (cs^2 = 0) wait half as long as exponential ones
    stage = cm.ApiStage(servers=2, service_s=0.1, service_samples=(0.05,) * 10)  # rescaled to 0.1 s
    p = cm.mmc(stage, rate=15.0, window_s=30)
    wait = cm.erlang_c(2, 1.5) / (2 * 10 - 15) / 2
    assert p.mean_s == pytest.approx(0.1 + wait)
    # p50 < p95, and the p95 is the constant service plus the wait's tail
    assert 0.1 <= p.p50_s < p.p95_s


def test_api_above_capacity_grows_a_backlog() -> None:
    p = cm.mmc(cm.ApiStage(servers=1, service_s=0.1), rate=15.0, window_s=30)
    assert p.overloaded
    assert p.growth_per_s == pytest.approx(5.0)
    assert p.backlog == pytest.approx(5.0 * 30 + 1)
    # the mean arrival of the window waits half the final backlog's drain: 5 x 30 / (2 x 10) = 7.5 s
    assert p.mean_s == pytest.approx(0.1 + 7.5)


def test_gated_batch_server_one_by_one() -> None:
    stage = cm.BatchStage("c", a_s=0.010, b_s=0.001, batch=100)
    assert stage.capacity == pytest.approx(100 / 0.110)
    # lambda (a + b) = 50 x 0.011 = 0.55 < 1: one event a cycle of 11 ms, busy 55 % of the time
    p = cm.batch_server(stage, rate=50.0, window_s=30)
    assert p.mean_s == pytest.approx(0.011 * (1 + 0.55 / 2))
    assert p.p95_s == pytest.approx(0.011 * (1 + (1 - 0.05 / 0.55)))
    assert p.p50_s == pytest.approx(0.011 * (1 + (1 - 0.5 / 0.55)))
    assert p.utilisation == pytest.approx(50.0 / (100 / 0.110))


def test_gated_batch_server_batches_grow_with_the_rate() -> None:
    stage = cm.BatchStage("c", a_s=0.010, b_s=0.001, batch=100)
    # lambda = 500: the fixed point C = a / (1 - b lambda) = 0.01 / 0.5 = 20 ms, 10 events a batch
    assert stage.cycle_s(500.0) == pytest.approx(0.020)
    p = cm.batch_server(stage, rate=500.0, window_s=30)
    assert p.mean_s == pytest.approx(0.030)
    assert p.p95_s == pytest.approx(0.020 * 1.95)
    assert p.backlog == pytest.approx(500 * 0.030)
    assert not p.overloaded


def test_saturation_turns_into_backlog_growth() -> None:
    stage = cm.BatchStage("c", a_s=0.010, b_s=0.001, batch=100)
    cap = stage.capacity
    p = cm.batch_server(stage, rate=2 * cap, window_s=40)
    assert p.overloaded
    assert p.growth_per_s == pytest.approx(cap)
    assert p.backlog == pytest.approx(cap * 40 + 100)
    assert p.utilisation == pytest.approx(2.0)
    just_below = cm.batch_server(stage, rate=0.99 * cap, window_s=40)
    assert just_below.growth_per_s == 0.0


def test_partitions_share_the_rate() -> None:
    one = cm.BatchStage("c", a_s=0.010, b_s=0.001, batch=100)
    four = cm.BatchStage("c", a_s=0.010, b_s=0.001, batch=100, servers=4)
    assert four.capacity == pytest.approx(4 * one.capacity)
    # each of the 4 pollers sees a quarter of the events: as one poller at rate / 4
    assert cm.batch_server(four, 2000.0, 30).mean_s == pytest.approx(cm.batch_server(one, 500.0, 30).mean_s)
    # 1,700/s at <= 0.7 of 909/s a partition: ceil(1700 / 636.4) = 3
    assert cm.servers_needed(one, 1700.0) == 3
    assert cm.servers_needed(one, 0.0) == 1
    assert cm.concurrency_needed(2000.0, 0.05) == pytest.approx(100.0)


def test_cpu_stretch_is_the_mmc_response_time_ratio() -> None:
    assert cm.cpu_stretch(2, 0.0) == 1.0
    assert cm.cpu_stretch(2, 0.5) == pytest.approx(1 / (1 - 0.5**2))  # M/M/2: 1 / (1 - U^2)
    assert cm.cpu_stretch(1, 0.5) == pytest.approx(2.0)  # M/M/1: 1 / (1 - U)
    assert cm.cpu_stretch(2, 1.0) == math.inf


def _model(machine: cm.Machine | None) -> cm.PipelineModel:
    api = cm.ApiStage(servers=4, service_s=0.010)
    relay = cm.BatchStage("relay", a_s=0.003, b_s=0.00005, batch=500)
    consumer = cm.Consumer(
        cm.BatchStage("analytics", a_s=0.005, b_s=0.003, batch=100),
        events_per_op=1.1,
        transit_p50_s=0.004,
        transit_p95_s=0.010,
    )
    return cm.PipelineModel(api, relay, events_per_op=1.1, consumers={"analytics": consumer}, machine=machine)


def test_pipeline_rates_paths_and_bottleneck() -> None:
    model = _model(None)
    caps = model.capacities_ops()
    assert caps["api"] == pytest.approx(400.0)
    assert caps["analytics"] == pytest.approx(100 / 0.305 / 1.1)
    assert model.bottleneck() == ("analytics", caps["analytics"])
    p = cm.predict(model, 50.0, 30)
    assert p.relay.rate == pytest.approx(55.0)
    assert p.consumers["analytics"].rate == pytest.approx(55.0)
    path = p.paths["analytics"]
    assert path.p50_s == pytest.approx(p.relay.p50_s + 0.004 + p.consumers["analytics"].p50_s)
    assert path.p95_s == pytest.approx(p.relay.p95_s + 0.010 + p.consumers["analytics"].p95_s)
    assert p.growth_ops() == 0.0


def test_shared_cpu_stretches_every_stage_and_caps_the_rate() -> None:
    model = _model(cm.Machine(cores=2, capacity=100.0))
    assert model.bottleneck() == ("machine", 100.0)
    half = cm.predict(model, 50.0, 30)
    assert half.utilisation == pytest.approx(0.5)
    assert half.stretch == pytest.approx(4 / 3)
    alone = cm.predict(_model(None).stretched(4 / 3), 50.0, 30)
    assert half.paths["analytics"].p95_s == pytest.approx(alone.paths["analytics"].p95_s)
    assert half.api.mean_s == pytest.approx(alone.api.mean_s)
    over = cm.predict(model, 120.0, 30)
    assert over.machine_overloaded
    assert over.deficit_per_s == pytest.approx(20.0)
    assert over.growth_ops() == pytest.approx(20.0)
    assert over.through == pytest.approx(100.0)


def test_fit_batch_times_recovers_a_and_b() -> None:
    points = [(n, 0.004 + 0.002 * n) for n in (1, 1, 2, 1, 20, 20, 19, 3)]
    a, b = cm.fit_batch_times(points)
    assert a == pytest.approx(0.004)
    assert b == pytest.approx(0.002)
    assert cm.fit_batch_times([(1, 0.010), (1, 0.020)]) == (pytest.approx(0.015), 0.0)
    with pytest.raises(ValueError):
        cm.fit_batch_times([])


def test_tolerance_and_slope() -> None:
    assert cm.within_factor(0.010, 0.019)
    assert not cm.within_factor(0.010, 0.021)
    assert cm.within_factor(0.001, 0.004, floor=0.005)  # both under the floor
    assert cm.slope([(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)]) == pytest.approx(2.0)
    assert cm.slope([(1.0, 5.0)]) == 0.0
