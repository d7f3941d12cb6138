{#- pre-hook of dim_customers: delete the customers whose identity merged into another one since
    the last build (their key is gone from the identity graph); their events, journeys and tickets
    are rebuilt under the surviving key. A no-op on a full build. -#}
{% macro journeys_delete_merged_customers() -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as customers
    where not exists (
        select 1 from {{ ref('int_identifiers_stitched') }} as stitched
        where stitched.customer_key = customers.customer_key
    )
    {%- endif -%}
{%- endmacro %}
