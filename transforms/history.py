"""Bitemporal history: every delivery is a snapshot; episodes are versioned by knowledge time.

Valid time is an episode's own intake and exit dates. Knowledge time is the interval
[known_from, known_to) between the stand-per date of the delivery that first stated a version
and the stand-per date of the delivery that changed or dropped it (null: still current).
A row that a delivery quarantined does not withdraw its episode: the last valid version stays in
force until a delivery states the episode validly again. A rejected delivery changes nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VERSION_ATTRIBUTES = ["person_id", "intake_date", "exit_date", "outcome_code", "follow_up_code"]
#: the text columns of the snapshot rows, coded as categories while versions are derived
CODED = ["delivery_id", "episode_id", "person_id", "outcome_code", "follow_up_code"]
VERSION_COLUMNS = ["episode_id", "municipality", "version", *VERSION_ATTRIBUTES, "known_from",
                   "known_to", "stated_in", "excel_row"]


def episode_versions(deliveries: pd.DataFrame, episodes: pd.DataFrame,
                     quarantined: pd.DataFrame) -> pd.DataFrame:
    """One row per version of an episode, from all accepted deliveries' protected rows.

    deliveries: delivery_id, municipality, stand_per, status (only `accepted` ones count).
    episodes: delivery_id, episode_id + VERSION_ATTRIBUTES + excel_row (curated rows).
    quarantined: delivery_id, episode_id (rows quarantined in that delivery; may be empty).
    """
    accepted = deliveries[deliveries["status"] == "accepted"][["delivery_id", "municipality", "stand_per"]]
    accepted = accepted.sort_values(["municipality", "stand_per"]).copy()
    accepted["seq"] = accepted.groupby("municipality").cumcount()
    accepted["next_stand_per"] = accepted.groupby("municipality")["stand_per"].shift(-1)
    rows = _snapshot_rows(accepted, episodes, quarantined)
    if rows.empty:
        return pd.DataFrame(columns=VERSION_COLUMNS)
    rows = rows.sort_values(["episode_id", "seq"], kind="stable")
    same_episode = rows["episode_id"].eq(rows["episode_id"].shift())
    contiguous = same_episode & rows["seq"].eq(rows["seq"].shift() + 1)
    unchanged = contiguous & _same(rows[VERSION_ATTRIBUTES], rows[VERSION_ATTRIBUTES].shift())
    rows["version_start"] = ~unchanged
    rows["run"] = rows["version_start"].cumsum()
    starts = rows[rows["version_start"]].set_index("run")
    ends = rows[~rows["run"].eq(rows["run"].shift(-1))].set_index("run")
    versions = starts.copy()
    versions["known_to"] = ends["next_stand_per"]
    versions["excel_row"] = versions["excel_row"].astype("int64")
    versions["version"] = versions.groupby("episode_id").cumcount() + 1
    versions = versions.astype({c: episodes[c].dtype for c in CODED})  # the text types back
    versions = versions.rename(columns={"stand_per": "known_from", "delivery_id": "stated_in"})
    return versions[VERSION_COLUMNS].reset_index(drop=True)


def _snapshot_rows(accepted: pd.DataFrame, episodes: pd.DataFrame, quarantined: pd.DataFrame) -> pd.DataFrame:
    """Each accepted delivery's episode states, quarantined rows filled from the version before."""
    keep = ["delivery_id", "episode_id", *VERSION_ATTRIBUTES, "excel_row"]
    valid = episodes[keep].assign(is_carried=False)
    parts = [valid]
    if quarantined is not None and len(quarantined):
        held = quarantined[["delivery_id", "episode_id"]].dropna().drop_duplicates()
        parts.append(held.assign(is_carried=True))
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True)
    # text columns as codes while millions of snapshot rows are sorted, shifted and compared
    # (episode_versions gives the text types back): the string columns' take was a third of the
    # merge on the full network; each delivery's own columns are a look-up, not a merge
    rows = rows.astype({c: "category" for c in CODED})
    if len(parts) > 1:
        # a quarantined row whose episode the same delivery also states validly carries nothing:
        # found on the codes (one integer per delivery and episode), where a merge on the two text
        # columns was half of the demo's derivation of versions
        pair = rows["delivery_id"].cat.codes.to_numpy(np.int64) * (len(rows["episode_id"].cat.categories) + 1) \
            + rows["episode_id"].cat.codes.to_numpy(np.int64)
        carried = rows["is_carried"].to_numpy()
        rows = rows[~(carried & np.isin(pair, pair[~carried]))]
    position = pd.Index(accepted["delivery_id"]).get_indexer(rows["delivery_id"])
    rows = rows[position >= 0].reset_index(drop=True)
    position = position[position >= 0]
    for col in accepted.columns.drop("delivery_id"):
        rows[col] = accepted[col].to_numpy()[position]
    if not rows["is_carried"].any():
        return rows
    rows = rows.sort_values(["episode_id", "seq"], kind="stable")
    # a carried row takes the attributes of the same episode's row in the delivery just before
    # (itself possibly carried); a quarantined episode never seen valid before is not in force
    for _ in range(int(rows["is_carried"].sum())):
        prev = rows.groupby("episode_id")[[*VERSION_ATTRIBUTES, "excel_row", "seq"]].shift()
        fill = rows["is_carried"] & rows["person_id"].isna() & prev["person_id"].notna() & \
            prev["seq"].eq(rows["seq"] - 1)
        if not fill.any():
            break
        cols = [*VERSION_ATTRIBUTES, "excel_row"]
        rows.loc[fill, cols] = prev.loc[fill, cols].to_numpy()
    return rows[rows["person_id"].notna()]


def _same(a: pd.DataFrame, b: pd.DataFrame) -> pd.Series:
    equal = (a == b) | (a.isna() & b.isna())
    return equal.all(axis=1)


def state_at(versions: pd.DataFrame, known_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """The episodes as known at `known_at` (None: as known now)."""
    if known_at is None:
        return versions[versions["known_to"].isna()]
    known_at = pd.Timestamp(known_at).date()
    in_force = (versions["known_from"] <= known_at) & (versions["known_to"].isna() | (versions["known_to"] > known_at))
    return versions[in_force]
