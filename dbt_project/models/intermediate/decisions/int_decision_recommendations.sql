-- The products recommended to each profile (ml.product_recommendations, written by the
-- ml/product_recommendations asset), the best `content_recommendations` of them (default 3) as
-- the content of email and web decisions: ids and names in rank order.
with recommendations as (

    select * from {{ source('ml', 'product_recommendations') }}
    where rank <= {{ var('content_recommendations', 3) }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

named as (

    select
        recommendations.profile_id,
        recommendations.rank,
        recommendations.product_id,
        coalesce(products.product_name, recommendations.product_id) as product_name
    from recommendations
    left join products
        on products.product_id = recommendations.product_id

),

final as (

    select
        profile_id,
        {{ dbt.listagg('product_id', "','", 'order by rank') }} as recommended_product_ids,
        {{ dbt.listagg('product_name', "', '", 'order by rank') }} as recommended_products,
        count(*) as n_recommended
    from named
    group by profile_id

)

select * from final
