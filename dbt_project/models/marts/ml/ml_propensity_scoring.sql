-- Purchase-propensity scoring rows: one per profile with any order or event before the run's
-- as-of, with the same features as ml_propensity_training computed as of tessera_as_of()
-- (shared macro ml_propensity_feature_ctes). Scored by the champion model into ml.propensity_scores.

with

cutoffs as (

    select {{ tessera_as_of() }} as cutoff_at

),

{{ ml_propensity_feature_ctes('cutoffs') }},

final as (

    select
        f.profile_id,
        f.cutoff_at,
        {{ ml_propensity_feature_select('f') }}
    from ml_features as f

)

select * from final
