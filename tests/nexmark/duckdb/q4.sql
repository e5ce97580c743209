-- Flink's AVG of a BIGINT is a BIGINT (the fraction cut off).
SELECT Q.category, sum(Q.final) // count(Q.final)
FROM (
    SELECT max(B.price) AS final, A.category
    FROM auction A JOIN bid B
      ON A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
    GROUP BY A.id, A.category
) Q
GROUP BY Q.category;
