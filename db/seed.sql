-- Demonstration products. Inserted only while the products table is empty, so running it again
-- (`cacheme migrate` does at every start) changes nothing. Ids follow the order below (1..15).
-- Plain SQL only (no psql meta-commands): the binary embeds this file and sends it as one
-- multi-statement query.

-- Same lock as in schema.sql: two concurrent seeders must not both see an empty table.
DO $$ BEGIN PERFORM pg_advisory_xact_lock(hashtext('cacheme.migrate')); END $$;

INSERT INTO products (name, description, price, category)
SELECT name, description, price, category
FROM (VALUES
    (1, 'MacBook Pro 16"', 'Apple MacBook Pro with M2 Pro chip, 16GB RAM, 512GB SSD', 2499.99, 'Laptops'),
    (2, 'iPhone 15 Pro', 'Apple iPhone 15 Pro with A17 Pro chip, 128GB storage', 999.99, 'Smartphones'),
    (3, 'Sony WH-1000XM5', 'Wireless noise-canceling headphones with 30-hour battery life', 399.99, 'Audio'),
    (4, 'Nintendo Switch OLED', 'Nintendo Switch with 7-inch OLED screen and enhanced audio', 349.99, 'Gaming'),
    (5, 'Samsung 65" QLED TV', '4K QLED Smart TV with Quantum HDR and Alexa Built-in', 1299.99, 'TVs'),
    (6, 'iPad Air', 'Apple iPad Air with M1 chip, 10.9-inch display, 64GB storage', 599.99, 'Tablets'),
    (7, 'AirPods Pro', 'Active noise cancellation, Transparency mode, Spatial audio', 249.99, 'Audio'),
    (8, 'PlayStation 5', 'Sony PlayStation 5 Digital Edition with DualSense controller', 499.99, 'Gaming'),
    (9, 'Dell XPS 13', '13.4-inch InfinityEdge display, Intel Core i7, 16GB RAM', 1199.99, 'Laptops'),
    (10, 'Google Pixel 8', 'Google Pixel 8 with Tensor G3 chip, 128GB storage', 699.99, 'Smartphones'),
    (11, 'Bose QuietComfort 45', 'Wireless noise-canceling headphones with 24-hour battery', 329.99, 'Audio'),
    (12, 'LG 55" OLED TV', '4K OLED Smart TV with AI ThinQ and webOS', 1499.99, 'TVs'),
    (13, 'Microsoft Surface Pro 9', '13-inch PixelSense display, Intel Core i5, 8GB RAM', 999.99, 'Tablets'),
    (14, 'Xbox Series X', 'Microsoft Xbox Series X with 1TB SSD and 4K gaming', 499.99, 'Gaming'),
    (15, 'HP Spectre x360', '13.5-inch 3K2K OLED display, Intel Core i7, 16GB RAM', 1399.99, 'Laptops')
) AS seed (position, name, description, price, category)
WHERE NOT EXISTS (SELECT 1 FROM products)
ORDER BY position;
