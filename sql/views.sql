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

-- one row per monthly run up to the one that published this database: when, which deliveries
-- (new, changed, withdrawn), rows read / curated / quarantined, status, and the headline figures
-- (outflow per line per rule at the run's reference date) that changed against the publication
-- before it
create or replace view runs as
    with run_log as (
        select * from run_log
    ),

    final as (
        select
            run_id,
            status,
            reference_date,
            definitions,
            release_id,
            deliveries,
            len(deliveries) as n_deliveries,
            rows_read,
            rows_curated,
            rows_quarantined,
            changes,
            len(changes) as n_figures_changed,
            message,
            started_at,
            finished_at
        from run_log
    )

    select * from final
    order by started_at;

-- the latest delivery of each municipality that no later delivery superseded (accepted, or held
-- with the reason why): what the monthly report shows per municipality and whose findings and
-- quarantined rows it lists
create or replace view latest_deliveries as
    select *
    from deliveries
    where status <> 'superseded'
    qualify row_number() over (partition by municipality order by period desc) = 1;
