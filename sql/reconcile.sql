-- sqlfluff:ignore:parsing
-- The bridge between two published figures: reconcile(), its drill-down reconcile_episodes(),
-- monthly series and the programme-level totals. Loaded after macros.sql.
--
-- Method. Figure A is the outflow at ref_date under rule A as known at known_at_a; figure B
-- under rule B as known at known_at_b. The path from A to B goes through M: rule A as known at
-- known_at_b. A -> M changes only knowledge (each move gets the effect of the revision that
-- caused it); M -> B changes only the rule (effect counting_rule). Persons are counted per
-- municipality, as in outflow(): the unit that moves is (municipality, person, line), so for
-- every line persons_a + the sum of its effects = persons_b exactly.

-- every episode as known at known_at_a beside its version as known at known_at_b, and the
-- revision between them (knowledge_effect): the one pairing and effect rule of reconcile() and
-- of the monthly report's bridge (transforms/monthly_report.py), which counts every rule at once
create or replace macro knowledge_pairs(ref_date, known_at_a := null, known_at_b := null) as table
    with state_a as (
        select * from episodes_known_at(known_at_a)
    ),

    state_b as (
        select * from episodes_known_at(known_at_b)
    ),

    paired as (
        select
            coalesce(state_b.episode_id, state_a.episode_id) as episode_id,
            coalesce(state_b.municipality, state_a.municipality) as municipality,
            state_a.episode_id is not null as in_a,
            state_b.episode_id is not null as in_b,
            state_a.person_id as person_a,
            state_b.person_id as person_b,
            state_a.exit_date as exit_a,
            state_b.exit_date as exit_b,
            state_a.outcome_code as outcome_a,
            state_b.outcome_code as outcome_b,
            state_a.follow_up_code as follow_up_a,
            state_b.follow_up_code as follow_up_b,
            state_a.correction as correction_a,
            state_b.correction as correction_b,
            state_a.stated_in as delivery_a,
            state_b.stated_in as delivery_b
        from state_a
        full outer join state_b on state_a.episode_id = state_b.episode_id
    ),

    final as (
        select
            *,
            case
                when not in_a then 'added_episode'
                when not in_b then 'withdrawn_episode'
                when
                    correction_b is distinct from correction_a
                    and coalesce(correction_b, correction_a) is not null
                    then 'steward_correction'
                when
                    (exit_a is null or exit_a > cast(ref_date as date))
                    and exit_b <= cast(ref_date as date)
                    then 'late_registration'
                when
                    exit_a <= cast(ref_date as date)
                    and (exit_b is null or exit_b > cast(ref_date as date))
                    then 'withdrawn_exit'
                else 'corrected_outcome'
            end as knowledge_effect
        from paired
    )

    select * from final;

-- which revision explains a person's knowledge move when several of their episodes in one
-- municipality were revised: the lowest rank first (arg_min)
create or replace macro revision_rank(effect) as
    list_position(
        ['steward_correction', 'late_registration', 'corrected_outcome',
            'withdrawn_exit', 'added_episode', 'withdrawn_episode'],
        effect
    );

-- the order of the effects in a bridge's rows, within a line
create or replace macro effect_order(effect) as
    list_position(
        ['counting_rule', 'late_registration', 'corrected_outcome', 'withdrawn_exit',
            'added_episode', 'withdrawn_episode', 'steward_correction', 'none'],
        effect
    );

-- each episode under A, M and B, with what changed between the two knowledge dates
create or replace macro reconcile_classified(
    ref_date, definition_a, definition_b, known_at_a := null, known_at_b := null
) as table
    with paired as (
        select * from knowledge_pairs(ref_date, known_at_a := known_at_a, known_at_b := known_at_b)
    ),

    final as (
        select
            paired.* exclude (knowledge_effect),
            rule_a_at_a.line as line_a,
            rule_a_at_b.line as line_m,
            rule_b_at_b.line as line_b,
            paired.knowledge_effect
        from paired
        left join rule_cases(definition_a) as rule_a_at_a
            on
                paired.exit_a <= cast(ref_date as date)
                and paired.outcome_a = rule_a_at_a.outcome_code
                and paired.follow_up_a is not distinct from rule_a_at_a.follow_up_code
        left join rule_cases(definition_a) as rule_a_at_b
            on
                paired.exit_b <= cast(ref_date as date)
                and paired.outcome_b = rule_a_at_b.outcome_code
                and paired.follow_up_b is not distinct from rule_a_at_b.follow_up_code
        left join rule_cases(definition_b) as rule_b_at_b
            on
                paired.exit_b <= cast(ref_date as date)
                and paired.outcome_b = rule_b_at_b.outcome_code
                and paired.follow_up_b is not distinct from rule_b_at_b.follow_up_code
    )

    select * from final;

-- one row per (municipality, person) that moved in one step: from line, to line, effect
create or replace macro reconcile_episodes(
    ref_date, definition_a, definition_b, known_at_a := null, known_at_b := null
) as table
    with classified as (
        select *
        from reconcile_classified(
            ref_date, definition_a, definition_b,
            known_at_a := known_at_a, known_at_b := known_at_b
        )
    ),

    in_a as (
        select distinct municipality, person_a as person_id, line_a as line
        from classified where line_a is not null
    ),

    in_m as (
        select distinct municipality, person_b as person_id, line_m as line
        from classified where line_m is not null
    ),

    in_b as (
        select distinct municipality, person_b as person_id, line_b as line
        from classified where line_b is not null
    ),

    -- the revision behind a knowledge move of (municipality, person); the first by priority
    -- when one person has several revised episodes in one municipality
    revised as (
        select municipality, person_a as person_id, knowledge_effect, episode_id,
            delivery_a, delivery_b
        from classified
        where
            person_a is not null
            and (line_a is distinct from line_m or person_a is distinct from person_b)
        union all
        select municipality, person_b as person_id, knowledge_effect, episode_id,
            delivery_a, delivery_b
        from classified
        where
            person_b is not null
            and (line_a is distinct from line_m or person_a is distinct from person_b)
    ),

    revision as (
        select
            municipality,
            person_id,
            arg_min(knowledge_effect, revision_rank(knowledge_effect)) as effect,
            string_agg(distinct episode_id, ',' order by episode_id) as episode_ids,
            string_agg(distinct delivery_a, ',' order by delivery_a) as deliveries_a,
            string_agg(distinct delivery_b, ',' order by delivery_b) as deliveries_b
        from revised
        group by municipality, person_id
    ),

    ruled as (
        select
            municipality,
            person_b as person_id,
            string_agg(distinct episode_id, ',' order by episode_id) as episode_ids,
            string_agg(distinct delivery_a, ',' order by delivery_a) as deliveries_a,
            string_agg(distinct delivery_b, ',' order by delivery_b) as deliveries_b
        from classified
        where line_m is distinct from line_b and person_b is not null
        group by municipality, person_b
    ),

    changes as (
        select 'knowledge' as step, municipality, person_id, line, -1 as sign
        from (select * from in_a except select * from in_m)
        union all
        select 'knowledge', municipality, person_id, line, 1
        from (select * from in_m except select * from in_a)
        union all
        select 'rule', municipality, person_id, line, -1
        from (select * from in_m except select * from in_b)
        union all
        select 'rule', municipality, person_id, line, 1
        from (select * from in_b except select * from in_m)
    ),

    numbered as (
        select
            *,
            row_number() over (
                partition by step, municipality, person_id, sign order by line
            ) as pair_no
        from changes
    ),

    moves as (
        select
            coalesce(left_line.step, joined_line.step) as step,
            coalesce(left_line.municipality, joined_line.municipality) as municipality,
            coalesce(left_line.person_id, joined_line.person_id) as person_id,
            left_line.line as from_line,
            joined_line.line as to_line
        from (select * from numbered where sign = -1) as left_line
        full outer join (select * from numbered where sign = 1) as joined_line
            on
                left_line.step = joined_line.step
                and left_line.municipality = joined_line.municipality
                and left_line.person_id = joined_line.person_id
                and left_line.pair_no = joined_line.pair_no
    ),

    final as (
        select
            moves.person_id as pseudonym,
            moves.municipality,
            moves.from_line,
            moves.to_line,
            case
                when moves.step = 'rule' then 'counting_rule'
                else coalesce(revision.effect, 'corrected_outcome')
            end as effect,
            coalesce(revision.episode_ids, ruled.episode_ids) as episode_ids,
            coalesce(revision.deliveries_a, ruled.deliveries_a) as deliveries_a,
            coalesce(revision.deliveries_b, ruled.deliveries_b) as deliveries_b
        from moves
        left join revision
            on
                moves.step = 'knowledge'
                and moves.municipality = revision.municipality
                and moves.person_id = revision.person_id
        left join ruled
            on
                moves.step = 'rule'
                and moves.municipality = ruled.municipality
                and moves.person_id = ruled.person_id
    )

    select * from final
    order by effect, municipality, from_line, to_line, pseudonym;

-- the bridge: per line, persons under A and B and every effect in between
create or replace macro reconcile(
    ref_date, definition_a, definition_b, known_at_a := null, known_at_b := null
) as table
    with moves as (
        select *
        from reconcile_episodes(
            ref_date, definition_a, definition_b,
            known_at_a := known_at_a, known_at_b := known_at_b
        )
    ),

    lines as (
        select code as line, position
        from taxonomy
        where vocabulary = 'reporting_lines'
    ),

    figure_a as (
        select line, sum(persons)::bigint as persons
        from outflow(ref_date, definition := definition_a, known_at := known_at_a)
        group by line
    ),

    figure_b as (
        select line, sum(persons)::bigint as persons
        from outflow(ref_date, definition := definition_b, known_at := known_at_b)
        group by line
    ),

    effects as (
        select to_line as line, effect, 1 as persons from moves where to_line is not null
        union all
        select from_line, effect, -1 from moves where from_line is not null
    ),

    per_effect as (
        select line, effect, sum(persons)::bigint as persons, count(*) as moved
        from effects
        group by line, effect
    ),

    final as (
        select
            lines.line,
            coalesce(figure_a.persons, 0) as persons_a,
            coalesce(figure_b.persons, 0) as persons_b,
            coalesce(per_effect.effect, 'none') as effect,
            coalesce(per_effect.persons, 0) as persons
        from lines
        left join figure_a on lines.line = figure_a.line
        left join figure_b on lines.line = figure_b.line
        left join per_effect on lines.line = per_effect.line
        order by lines.position, effect_order(coalesce(per_effect.effect, 'none'))
    )

    select * from final;

-- month ends from the month of from_date up to to_date; a reversed period is an error
create or replace macro month_ends(from_date, to_date) as table
    select cast(month_start + interval 1 month - interval 1 day as date) as month_end
    from generate_series(
        date_trunc('month', cast(from_date as date)),
        date_trunc('month', cast(to_date as date)),
        interval 1 month
    ) as months(month_start)
    union all
    select
        cast(error(
            'reversed period: from ' || cast(from_date as varchar)
            || ' is after to ' || cast(to_date as varchar)
        ) as date) as month_end
    where cast(from_date as date) > cast(to_date as date);

-- the points of a series ending at to_date: every month end before it, then to_date itself (a month
-- end in the monthly run): a series never counts an exit after to_date
create or replace macro series_points(from_date, to_date) as table
    select month_end from month_ends(from_date, to_date)
    where month_end < cast(to_date as date)
    union all
    select cast(to_date as date) as month_end;

-- per month and municipality: inflow in the month, outflow in the month per line, occupancy at
-- month end; persons counted per municipality, as known at known_at
create or replace macro monthly_series(
    from_date, to_date, definition := 'programme', known_at := null
) as table
    with months as (
        select
            month_end,
            cast(date_trunc('month', month_end) as date) as month_start
        from month_ends(from_date, to_date)
    ),

    versions as (
        select * from episodes_known_at(known_at)
    ),

    inflow_in_month as (
        select
            months.month_end,
            versions.municipality,
            'inflow' as measure,
            null as line,
            null as durability,
            count(distinct versions.person_id) as persons
        from months
        inner join versions
            on versions.intake_date between months.month_start and months.month_end
        group by all
    ),

    outflow_in_month as (
        select
            months.month_end,
            versions.municipality,
            'outflow' as measure,
            rules.line,
            rules.durability,
            count(distinct versions.person_id) as persons
        from months
        inner join versions
            on versions.exit_date between months.month_start and months.month_end
        inner join rule_cases(definition) as rules
            on
                versions.outcome_code = rules.outcome_code
                and versions.follow_up_code is not distinct from rules.follow_up_code
        group by all
    ),

    occupancy_at_month_end as (
        select
            months.month_end,
            versions.municipality,
            'occupancy' as measure,
            null as line,
            null as durability,
            count(distinct versions.person_id) as persons
        from months
        inner join versions
            on
                versions.intake_date <= months.month_end
                and (versions.exit_date is null or versions.exit_date > months.month_end)
        group by all
    ),

    final as (
        select * from inflow_in_month
        union all
        select * from outflow_in_month
        union all
        select * from occupancy_at_month_end
    )

    select * from final
    order by month_end, municipality, measure, line;

-- programme-level outflow per line: episodes, persons counted per municipality (as published),
-- and distinct persons over the whole programme (a person who moved between pilots once)
create or replace macro outflow_totals(ref_date, definition := 'programme', known_at := null) as table
    select
        rules.line,
        rules.durability,
        count(*) as episodes,
        count(distinct (versions.municipality, versions.person_id)) as persons_per_municipality,
        count(distinct versions.person_id) as persons_programme
    from episodes_known_at(known_at) as versions
    inner join rule_cases(definition) as rules
        on
            versions.outcome_code = rules.outcome_code
            and versions.follow_up_code is not distinct from rules.follow_up_code
    where versions.exit_date <= cast(ref_date as date)
    group by rules.line, rules.durability;

-- inflow, occupancy and outflow of every municipality on one basis, at any date and knowledge
-- date, in persons and in episodes. Episodes add up exactly: entered = open + closed. Persons do
-- not: a person who left and came back (a re-entry) is counted once in inflow, once in outflow,
-- and in occupancy while the later stay is open, so inflow = occupancy + outflow - left_and_back
-- (persons both in occupancy and in outflow). Every count is made from the episodes; none is
-- derived from the others.
create or replace macro one_basis(ref_date, known_at := null) as table
    with entered as (
        select
            municipality,
            person_id,
            exit_date is null or exit_date > cast(ref_date as date) as is_open
        from episodes_known_at(known_at)
        where intake_date <= cast(ref_date as date)
    ),

    per_person as (
        select
            municipality,
            person_id,
            count(*) as episodes,
            count(*) filter (where is_open) as open_episodes
        from entered
        group by municipality, person_id
    ),

    final as (
        select
            municipality,
            count(*) as inflow,
            count(*) filter (where open_episodes > 0) as occupancy,
            count(*) filter (where open_episodes < episodes) as outflow,
            count(*) filter (
                where open_episodes > 0 and open_episodes < episodes
            ) as left_and_back,
            sum(episodes) as episodes_entered,
            sum(open_episodes) as episodes_open,
            sum(episodes - open_episodes) as episodes_closed
        from per_person
        group by municipality
        order by municipality
    )

    select * from final;

-- the published end-2019 row (two pilots' inflow beside three pilots' occupancy) next to the
-- consistent figures for all five
create or replace view end_2019_bases as
    with published as (
        select municipality, measure, persons as published_persons
        from published_figures
        where table_name = 'B' and reference_date = date '2019-12-31'
            and municipality is not null
    ),

    computed as (
        select * from one_basis(date '2019-12-31')
    ),

    final as (
        select
            computed.municipality,
            published.measure as published_measure,
            published.published_persons,
            computed.inflow,
            computed.occupancy
        from computed
        left join published on computed.municipality = published.municipality
        order by computed.municipality
    )

    select * from final;
