"""Episode versions from hand-built delivery snapshots, where each effect is known in advance."""

from datetime import date

import pandas as pd

from transforms.history import episode_versions, state_at

M = lambda month: date(2020, month, 28)  # noqa: E731  stand-per date of delivery `month`


def deliveries(*months: int, rejected: tuple[int, ...] = ()) -> pd.DataFrame:
    return pd.DataFrame({
        "delivery_id": [f"a/{m}" for m in months], "municipality": "a", "stand_per": [M(m) for m in months],
        "status": ["rejected" if m in rejected else "accepted" for m in months],
    })


def row(month: int, episode: str, exit_date: date | None = None, outcome: str | None = None,
        follow_up: str | None = None, intake: date = date(2020, 1, 5)) -> dict:
    return dict(delivery_id=f"a/{month}", episode_id=episode, person_id="P" + episode, intake_date=intake,
                exit_date=exit_date, outcome_code=outcome, follow_up_code=follow_up, excel_row=2)


def versions(rows: list[dict], dl: pd.DataFrame, quarantined: list[tuple[int, str]] = ()) -> pd.DataFrame:
    q = pd.DataFrame([{"delivery_id": f"a/{m}", "episode_id": e} for m, e in quarantined],
                     columns=["delivery_id", "episode_id"])
    return episode_versions(dl, pd.DataFrame(rows), q)


def test_unchanged_episode_is_one_version_still_current():
    v = versions([row(1, "e1"), row(2, "e1"), row(3, "e1")], deliveries(1, 2, 3))
    assert len(v) == 1 and v.loc[0, "known_from"] == M(1) and pd.isna(v.loc[0, "known_to"])


def test_late_exit_and_corrected_outcome_make_new_versions():
    rows = [row(1, "e1"), row(2, "e1"), row(3, "e1", M(1), "departed_unknown"),
            row(4, "e1", M(1), "return_independent")]
    v = versions(rows, deliveries(1, 2, 3, 4))
    assert v["outcome_code"].fillna("-").tolist() == ["-", "departed_unknown", "return_independent"]
    assert v["known_from"].tolist() == [M(1), M(3), M(4)]
    assert v["known_to"].tolist()[:2] == [M(3), M(4)]
    assert state_at(v, M(2))["exit_date"].isna().tolist() == [True]       # as known at delivery 2: still open
    assert state_at(v, M(3) + pd.Timedelta(days=2))["outcome_code"].tolist() == ["departed_unknown"]
    assert state_at(v)["outcome_code"].tolist() == ["return_independent"]


def test_withdrawn_episode_closes_and_a_return_reopens():
    rows = [row(1, "e1"), row(1, "e2"), row(2, "e1"), row(3, "e1"), row(3, "e2")]
    v = versions(rows, deliveries(1, 2, 3))
    e2 = v[v["episode_id"] == "e2"]
    assert e2["known_from"].tolist() == [M(1), M(3)] and e2["known_to"].tolist()[0] == M(2)
    assert set(state_at(v, M(2))["episode_id"]) == {"e1"}


def test_quarantined_row_keeps_the_last_valid_version_in_force():
    rows = [row(1, "e1"), row(1, "e2"), row(2, "e1"), row(3, "e1"), row(3, "e2")]
    v = versions(rows, deliveries(1, 2, 3), quarantined=[(2, "e2")])
    assert len(v[v["episode_id"] == "e2"]) == 1
    assert set(state_at(v, M(2))["episode_id"]) == {"e1", "e2"}


def test_quarantined_new_episode_is_not_in_force_until_valid():
    rows = [row(1, "e1"), row(2, "e1"), row(2, "e2")]
    v = versions(rows, deliveries(1, 2), quarantined=[(1, "e2")])
    e2 = v[v["episode_id"] == "e2"]
    assert e2["known_from"].tolist() == [M(2)]


def test_rejected_delivery_changes_nothing():
    rows = [row(1, "e1"), row(2, "e1", M(2), "deceased"), row(3, "e1")]
    v = versions(rows, deliveries(1, 2, 3, rejected=(2,)))
    assert len(v) == 1 and pd.isna(v.loc[0, "exit_date"])


def test_a_quarantined_row_of_an_episode_its_delivery_also_states_validly_carries_nothing():
    """One episode on two rows of delivery 2, one valid and one quarantined (a duplicate with a
    mistake): the valid row stands, and it is what a quarantined row of the next delivery carries
    (the duplicate carried nothing it could pass on: the episode would drop out in delivery 3)."""
    rows = [row(1, "e1"), row(1, "e2"), row(2, "e1", M(2), "departed_unknown"), row(2, "e2"), row(3, "e2")]
    v = versions(rows, deliveries(1, 2, 3), quarantined=[(2, "e1"), (3, "e1"), (1, "e2")])
    e1 = v[v["episode_id"] == "e1"]
    assert e1["outcome_code"].fillna("-").tolist() == ["-", "departed_unknown"]
    assert e1["known_from"].tolist() == [M(1), M(2)] and e1["known_to"].tolist()[0] == M(2)
    assert pd.isna(e1["known_to"].tolist()[1])  # carried through delivery 3: still in force
    assert len(v[v["episode_id"] == "e2"]) == 1 and set(state_at(v)["episode_id"]) == {"e1", "e2"}
