{#- Identity stitching converged: no edge of the identity graph joins two customer keys.
    If this fails, the graph has chains longer than var journeys__stitching_iterations rounds of
    label propagation resolve: raise the variable. -#}
select
    links.identifier,
    links.linked_identifier,
    left_side.customer_key as identifier_customer_key,
    right_side.customer_key as linked_customer_key
from {{ ref('int_identifiers_linked') }} as links
inner join {{ ref('int_identifiers_stitched') }} as left_side
    on left_side.identifier = links.identifier
inner join {{ ref('int_identifiers_stitched') }} as right_side
    on right_side.identifier = links.linked_identifier
where left_side.customer_key <> right_side.customer_key
