# "Did you mean": the candidate nearest to a misspelt `word`, picked as the
# CLI's rules/suggest.rs picks it (case ignored; at most a third of the
# word's length in edits, at least 1; a swap of two neighbours is one edit;
# on a tie the first candidate), as "; did you mean `x`?", else "".
word: candidates:
let
  inherit (builtins)
    elemAt
    foldl'
    genList
    length
    stringLength
    substring
    ;
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  chars = s: genList (i: substring i 1 s) (stringLength s);
  min = a: b: if a < b then a else b;
  # Optimal string alignment distance, one row of the table at a time.
  distance =
    a: b:
    let
      as = chars (builtins.replaceStrings upper lower a);
      bs = chars (builtins.replaceStrings upper lower b);
      m = length bs;
      row =
        { before, previous }:
        i:
        let
          ai = elemAt as (i - 1);
          cell =
            current: j:
            let
              bj = elemAt bs (j - 1);
              cost = if ai == bj then 0 else 1;
              plain = min (min (elemAt previous j + 1) (elemAt current (j - 1) + 1)) (elemAt previous (j - 1) + cost);
              swapped = i > 1 && j > 1 && ai == elemAt bs (j - 2) && elemAt as (i - 2) == bj;
            in
            current ++ [ (if swapped then min plain (elemAt before (j - 2) + 1) else plain) ];
        in
        {
          before = previous;
          previous = foldl' cell [ i ] (genList (j: j + 1) m);
        };
      first = genList (j: j) (m + 1);
    in
    elemAt (foldl' row { before = first; previous = first; } (genList (i: i + 1) (length as))).previous m;
  limit = let third = stringLength word / 3; in if third < 1 then 1 else third;
  best = foldl' (
    best: candidate:
    let
      d = distance word candidate;
    in
    if d <= limit && (best == null || d < best.d) then { inherit d candidate; } else best
  ) null candidates;
in
if best == null then "" else "; did you mean `${best.candidate}`?"
