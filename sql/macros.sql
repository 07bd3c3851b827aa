-- Table macros of the outside contract. Loaded into data/curated/lvv.duckdb at every publish.
-- known_at := null means everything delivered so far.

-- the episode versions in force as known at a date (null: as known now). A date before the first
-- delivery's stand-per date knows nothing yet: every count is zero (lvv warns; see delivery_span).
create or replace macro episodes_known_at(known_at) as table
    select *
    from episode_versions
    where
        (known_at is null and known_to is null)
        or (
            known_at is not null
            and known_from <= cast(known_at as date)
            and (known_to is null or known_to > cast(known_at as date))
        );

-- the line and durability of every (outcome, follow-up) under one counting rule; the rule's name
-- in any case. An unknown rule is an error naming the known ones (never zero rows), in every macro
-- that counts under a rule (they all go through this one). (Where nothing at all is left to count,
-- DuckDB may skip the lookup and answer no rows; lvv checks the rule before it asks.)
create or replace macro rule_cases(rule_name) as table
    select
        outcome_code,
        follow_up_code,
        line,
        durability
    from counting_rules
    where
        case
            -- rule_name is the macro's parameter, not a column to qualify
            when exists (
                select 1 from counting_rules as known
                where known.definition = lower(rule_name)  -- noqa: RF03
            )
                then definition = lower(rule_name)
            else error(
                'unknown counting rule ''' || coalesce(rule_name, 'null') || '''; known: '
                || (
                    select string_agg(distinct known.definition, ', ' order by known.definition)
                    from counting_rules as known
                )
            )
        end;

-- every exit up to and including ref_date with its line and durability under one counting rule:
-- one row per episode that ended, what outflow() and outflow_by_outcome() count
create or replace macro exits(ref_date, definition := 'programme', known_at := null) as table
    select
        versions.municipality,
        versions.person_id,
        versions.episode_id,
        versions.exit_date,
        versions.outcome_code,
        versions.follow_up_code,
        rules.line,
        rules.durability
    from episodes_known_at(known_at) as versions
    inner join rule_cases(definition) as rules
        on versions.outcome_code = rules.outcome_code
        and versions.follow_up_code is not distinct from rules.follow_up_code
    where versions.exit_date <= cast(ref_date as date);

-- persons who left an LVV from the pilot start up to and including ref_date, per line
create or replace macro outflow(ref_date, definition := 'programme', known_at := null) as table
    with final as (
        select
            exited.municipality,
            exited.line,
            exited.durability,
            count(distinct exited.person_id) as persons
        from exits(ref_date, definition := definition, known_at := known_at) as exited
        inner join taxonomy as lines
            on lines.vocabulary = 'reporting_lines' and lines.code = exited.line
        group by exited.municipality, exited.line, exited.durability, lines.position
        order by exited.municipality, lines.position, exited.durability
    )

    select * from final;

-- persons in an LVV on ref_date (entered on or before it, not left on or before it)
create or replace macro occupancy(ref_date, known_at := null) as table
    select
        municipality,
        count(distinct person_id) as persons
    from episodes_known_at(known_at)
    where
        intake_date <= cast(ref_date as date)
        and (exit_date is null or exit_date > cast(ref_date as date))
    group by municipality
    order by municipality;

-- persons who entered an LVV from the pilot start up to and including ref_date
create or replace macro inflow(ref_date, known_at := null) as table
    select
        municipality,
        count(distinct person_id) as persons
    from episodes_known_at(known_at)
    where intake_date <= cast(ref_date as date)
    group by municipality
    order by municipality;

-- persons who left an LVV up to and including ref_date, per outcome and follow-up under
-- each reporting line of a counting rule: the outcome codes beneath a line of outflow().
-- A person is counted once per (municipality, outcome, follow-up, line, durability); the
-- outcomes of a line add up to outflow()'s line unless one person left twice with two outcomes.
create or replace macro outflow_by_outcome(
    ref_date, definition := 'programme', known_at := null
) as table
    with final as (
        select
            exited.municipality,
            exited.outcome_code,
            exited.follow_up_code,
            exited.line,
            exited.durability,
            count(distinct exited.person_id) as persons
        from exits(ref_date, definition := definition, known_at := known_at) as exited
        inner join taxonomy as lines
            on lines.vocabulary = 'reporting_lines' and lines.code = exited.line
        inner join taxonomy as outcomes
            on outcomes.vocabulary = 'outcomes' and outcomes.code = exited.outcome_code
        left join taxonomy as follow_ups
            on follow_ups.vocabulary = 'follow_ups'
            and follow_ups.code = exited.follow_up_code
        group by
            exited.municipality, exited.outcome_code, exited.follow_up_code, exited.line,
            exited.durability, lines.position, outcomes.position, follow_ups.position
        order by
            exited.municipality, lines.position, outcomes.position, follow_ups.position
    )

    select * from final;

-- how far quarantine may put a figure off: per municipality, at knowledge date known_at, the
-- episodes that the latest accepted delivery (stand per on or before known_at) holds only in
-- quarantine and that count at ref_date (intake on or before it). episodes_stale: an older
-- version stays in force in their place; episodes_missing: never stated validly, so in no figure.
create or replace macro quarantine_impact(ref_date, known_at := null) as table
    with latest as (
        select
            municipality,
            delivery_id,
            stand_per
        from deliveries
        where
            status = 'accepted'
            and (known_at is null or stand_per <= cast(known_at as date))
        qualify row_number() over (
            partition by municipality order by stand_per desc
        ) = 1
    ),

    held as (
        select distinct
            latest.municipality,
            latest.delivery_id,
            quarantined.episode_id
        from quarantined_rows as quarantined
        inner join latest on quarantined.delivery_id = latest.delivery_id
        where quarantined.episode_id is not null
    ),

    in_force as (
        select
            episode_id,
            intake_date
        from episodes_known_at(known_at)
    ),

    final as (
        select
            latest.municipality,
            latest.delivery_id as latest_delivery,
            count(distinct in_force.episode_id) filter (
                where in_force.intake_date <= cast(ref_date as date)
            ) as episodes_stale,
            count(distinct held.episode_id) filter (
                where held.episode_id is not null and in_force.episode_id is null
            ) as episodes_missing
        from latest
        left join held on latest.delivery_id = held.delivery_id
        left join in_force on held.episode_id = in_force.episode_id
        group by latest.municipality, latest.delivery_id
        order by latest.municipality
    )

    select * from final;
-- the first and last stand-per (knowledge) dates of the deliveries in the publication, and the
-- first intake: a reference date or knowledge date outside them answers zeros or "as known at the
-- last delivery", which the command line says in a warning line
create or replace macro delivery_span() as table
    select
        min(known_from) as first_known,
        max(known_from) as last_known,
        min(intake_date) as first_intake
    from episode_versions;
