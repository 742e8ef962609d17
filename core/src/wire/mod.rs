//! Wire carriers (SPEC §6): the SuperOffice JSON shapes, built at the edge.
