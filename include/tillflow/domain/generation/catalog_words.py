"""The 32 item categories, their typical prices and the words item names are made of."""

from __future__ import annotations

from typing import Final

#: (category name, median unit price in dollars, product nouns, kind of pack size)
CATEGORIES: Final[tuple[tuple[str, float, tuple[str, ...], str], ...]] = (
    ("Produce", 2.5, ("Apples", "Bananas", "Carrots", "Spinach", "Tomatoes", "Onions"), "weight"),
    (
        "Meat & Poultry",
        9.0,
        ("Chicken Breast", "Ground Beef", "Pork Chops", "Turkey", "Steak"),
        "weight",
    ),
    ("Seafood", 12.0, ("Salmon Fillet", "Shrimp", "Cod", "Tilapia", "Crab Legs"), "weight"),
    (
        "Dairy",
        3.5,
        ("Whole Milk", "Greek Yogurt", "Butter", "Sour Cream", "Cottage Cheese"),
        "volume",
    ),
    ("Cheese", 5.5, ("Cheddar", "Mozzarella", "Swiss", "Parmesan", "Brie", "Gouda"), "weight"),
    ("Eggs", 4.0, ("Large Eggs", "Brown Eggs", "Egg Whites", "Free Range Eggs"), "count"),
    ("Bakery", 3.8, ("Sourdough", "Bagels", "Croissants", "Muffins", "Wheat Bread"), "count"),
    ("Frozen Foods", 5.0, ("Pizza", "Ice Cream", "Frozen Peas", "Waffles", "Burritos"), "weight"),
    ("Canned Goods", 1.9, ("Black Beans", "Tomato Soup", "Corn", "Tuna", "Chickpeas"), "weight"),
    (
        "Dry Pasta & Rice",
        2.2,
        ("Spaghetti", "Penne", "Jasmine Rice", "Brown Rice", "Couscous"),
        "weight",
    ),
    ("Breakfast & Cereal", 4.2, ("Corn Flakes", "Granola", "Oatmeal", "Pancake Mix"), "weight"),
    (
        "Snacks",
        3.6,
        ("Potato Chips", "Pretzels", "Popcorn", "Tortilla Chips", "Crackers"),
        "weight",
    ),
    ("Candy", 2.0, ("Chocolate Bar", "Gummy Bears", "Mints", "Licorice", "Caramels"), "weight"),
    (
        "Beverages",
        2.8,
        ("Orange Juice", "Cola", "Lemonade", "Iced Tea", "Sparkling Water"),
        "volume",
    ),
    (
        "Coffee & Tea",
        7.5,
        ("Ground Coffee", "Whole Bean Coffee", "Green Tea", "Black Tea"),
        "weight",
    ),
    ("Beer & Wine", 11.0, ("Lager", "IPA", "Cabernet", "Chardonnay", "Pinot Noir"), "volume"),
    ("Condiments", 3.0, ("Ketchup", "Mustard", "Mayonnaise", "Hot Sauce", "Salsa"), "volume"),
    ("Baking", 3.3, ("Flour", "Sugar", "Baking Soda", "Vanilla Extract", "Cake Mix"), "weight"),
    ("Spices", 4.5, ("Black Pepper", "Cinnamon", "Paprika", "Oregano", "Cumin"), "weight"),
    (
        "International",
        3.9,
        ("Soy Sauce", "Curry Paste", "Tortillas", "Ramen", "Coconut Milk"),
        "weight",
    ),
    ("Deli", 6.5, ("Sliced Ham", "Turkey Breast", "Salami", "Hummus", "Potato Salad"), "weight"),
    ("Health & Wellness", 9.5, ("Vitamin C", "Multivitamin", "Pain Reliever", "Bandages"), "count"),
    ("Personal Care", 5.8, ("Shampoo", "Toothpaste", "Body Wash", "Deodorant", "Lotion"), "volume"),
    ("Baby", 12.5, ("Diapers", "Baby Wipes", "Infant Formula", "Baby Food"), "count"),
    ("Pet Supplies", 14.0, ("Dog Food", "Cat Litter", "Cat Food", "Pet Treats"), "weight"),
    ("Household Cleaning", 6.0, ("Dish Soap", "Laundry Detergent", "Bleach", "Sponges"), "volume"),
    ("Paper Goods", 8.0, ("Paper Towels", "Toilet Paper", "Napkins", "Tissues"), "count"),
    ("Kitchenware", 11.5, ("Skillet", "Mixing Bowl", "Spatula", "Food Storage Set"), "each"),
    ("Home & Garden", 15.0, ("Potting Soil", "Light Bulbs", "Batteries", "Candles"), "count"),
    ("Electronics", 24.0, ("Phone Charger", "Earbuds", "HDMI Cable", "USB Drive"), "each"),
    ("Toys & Games", 16.0, ("Puzzle", "Board Game", "Action Figure", "Building Blocks"), "each"),
    ("Seasonal", 9.0, ("Gift Wrap", "Sunscreen", "Picnic Set", "Holiday Lights"), "each"),
)

ADJECTIVES: Final[tuple[str, ...]] = (
    "Organic", "Classic", "Original", "Family Size", "Premium", "Lite", "Fresh", "Value Pack",
    "Reduced Sodium", "Extra", "Natural", "Homestyle", "Select", "Everyday", "Gourmet", "Zesty",
)  # fmt: skip

SIZES: Final[dict[str, tuple[str, ...]]] = {
    "weight": ("4 oz", "8 oz", "12 oz", "16 oz", "24 oz", "32 oz", "1 lb", "2 lb", "5 lb"),
    "volume": ("8 fl oz", "12 fl oz", "16 fl oz", "32 fl oz", "64 fl oz", "1 gal", "500 ml", "1 l"),
    "count": ("1 ct", "4 ct", "6 ct", "12 ct", "18 ct", "24 ct", "48 ct"),
    "each": ("each", "2 pack", "3 pack", "set"),
}
