-- Views of the outside contract, over the tables a publish loads.

-- the episodes as known now: the current version of every episode
create or replace view episodes as
    select
        episode_id,
        municipality,
        person_id,
        intake_date,
        exit_date,
        outcome_code,
        follow_up_code,
        version,
        known_from,
        stated_in
    from episode_versions
    where known_to is null;
