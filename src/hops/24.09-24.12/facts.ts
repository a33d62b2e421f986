/**
 * The revision 24.09 and 24.12 last share. 24.09.6 and later end at ecc9f6322be4 (endpoints.image
 * loses its foreign key), which 24.12's and 25.1's scripts do not have (it comes back in 25.2).
 */
export const DOWNGRADE_TO = 'e9e574a6e22d';
