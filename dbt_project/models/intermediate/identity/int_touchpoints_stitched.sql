{#- One row per touchpoint with the stitched customer it belongs to. -#}
select
    touchpoints.*,
    stitched.customer_key
from {{ ref('int_touchpoints_unioned') }} as touchpoints
inner join {{ ref('int_identifiers_stitched') }} as stitched
    on stitched.identifier = touchpoints.identity_node
