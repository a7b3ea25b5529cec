-- Purchase-propensity training rows: one per (profile, cutoff) for several cutoffs before the
-- run's as-of, cutoff k = as_of - k * horizon (k = 1..propensity_training_cutoffs).
-- Features use only data strictly before the cutoff (macro ml_propensity_feature_ctes);
-- label = 1 when the profile completed at least one order in (cutoff, cutoff + horizon].
-- With cutoffs one horizon apart every label window is fully observed (the k = 1 window ends at
-- the as-of) and the latest cutoff's rows serve as the time-based validation set in ml/train.py.
{%- set horizon = var('propensity_horizon_days', 90) | int %}
{%- set n_cutoffs = var('propensity_training_cutoffs', 3) | int %}

with

cutoffs as (
    {%- for k in range(1, n_cutoffs + 1) %}

    select
        {{ k }} as cutoff_index,
        {{ dbt.dateadd('day', -k * horizon, tessera_as_of()) }} as cutoff_at
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

{{ ml_propensity_feature_ctes('cutoffs') }},

labels as (

    select
        p.profile_id,
        p.cutoff_at,
        count(*) as completed_orders_in_horizon
    from ml_population as p
    inner join ml_orders as o
        on o.profile_id = p.profile_id
       and o.is_completed = 1
       and o.ordered_at > p.cutoff_at
       and o.ordered_at <= {{ dbt.dateadd('day', horizon, 'p.cutoff_at') }}
    group by p.profile_id, p.cutoff_at

),

final as (

    select
        {{ dbt.concat(['f.profile_id', "'|'", 'cast(c.cutoff_index as ' ~ dbt.type_string() ~ ')']) }}
                                                        as training_row_id,
        f.profile_id,
        f.cutoff_at,
        c.cutoff_index,
        {{ horizon }}                                   as horizon_days,
        {{ ml_propensity_feature_select('f') }},
        case when l.profile_id is null then 0 else 1 end as label
    from ml_features as f
    inner join cutoffs as c
        on c.cutoff_at = f.cutoff_at
    left join labels as l
        on l.profile_id = f.profile_id
       and l.cutoff_at = f.cutoff_at

)

select * from final
